"""What a daemon or a command declares to the ledger from the config before using it: the
locations (issue 17) and the channels, with the locations each sells from."""

from __future__ import annotations

from typing import Protocol

from syncd.config import Settings
from syncd.connectors import connector_class
from syncd.domain import lane_name
from syncd.ledger.documents import DocumentStore
from syncd.ledger.locations import LocationInfo, LocationStore
from syncd.ledger.values import ChannelInfo


class DeclaringStore(DocumentStore, LocationStore, Protocol):
    """The parts of the ledger this needs."""


async def declare_channels(store: DeclaringStore, settings: Settings) -> None:
    """Locations first (the ledger's default location may be renamed to the first of them),
    then the enabled channels; a channel new or selling from other locations is queued whole."""
    await store.register_locations([LocationInfo(loc.name, loc.kind) for loc in settings.locations])
    infos: list[ChannelInfo] = []
    for c in settings.channels:
        if not c.enabled:
            continue
        follows = connector_class(c.type).follows_own_sales
        # A channel told each location apart is pushed through its lanes (one per location,
        # each with its own outbox rows and figures shown); the channel itself only pulls.
        infos.append(
            ChannelInfo(c.name, c.type, c.push and not c.shop_locations, follows, c.locations)
        )
        infos.extend(
            ChannelInfo(lane_name(c.name, loc), c.type, c.push, follows, (loc,))
            for loc in c.shop_locations
        )
    await store.register_channels(infos)
