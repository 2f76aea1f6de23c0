"""``[locations.<name>]``: where stock is kept, and which channels sell from where (issue 17).

A location is a store, a warehouse or a stand. A channel sells from the locations it names
(``locations = [...]`` in its table, in the order a web order takes units from them) or from the
locations whose ``channels`` name it; when both are written they must agree. A till sells from its
store's one location. With exactly one location every channel sells from it; with none, the
ledger has one location (``main``) and behaves as it did before locations existed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncd.domain import DEFAULT_LOCATION, LOCATION_KINDS, TRANSIT_PREFIX
from syncd.settings import ConfigIssue, TableReader

# Connector types that are a till: one store, one location.
TILL_TYPES = ("csv_till",)
# A shop channel with several locations is told their sum, as one figure:
# - PrestaShop keeps one quantity per product (or combination) and shop, stock_available.quantity
#   (PrestaShop/PrestaShop classes/stock/StockAvailable.php): there is nowhere to put more.
# - Magento (MSI) could take one source item per location, but its reservations are per stock,
#   not per source (magento/inventory InventoryReservationsApi/Model/
#   GetReservationsQuantityInterface.php: execute(sku, stockId)), so "source = available +
#   reserved" has no per-source meaning yet; until that rule is settled a Magento channel writes
#   the sum of its locations to its one `source_code` (issue 17: per-source push left out).


@dataclass(frozen=True, slots=True)
class LocationSettings:
    name: str
    kind: str = "store"
    channels: tuple[str, ...] = ()  # as written in the location's table


def parse_locations(
    table: Mapping[str, Any], *, file: str, issues: list[ConfigIssue]
) -> tuple[LocationSettings, ...]:
    """The ``[locations]`` tables, in the order written."""
    out: list[LocationSettings] = []
    for name, body in table.items():
        prefix = f"locations.{name}"
        if not isinstance(body, Mapping):
            issues.append(ConfigIssue(file, prefix, "must be a table", f"[{prefix}]"))
            continue
        if not name.replace("_", "").replace("-", "").isalnum():
            issues.append(
                ConfigIssue(
                    file, prefix, "name may use letters, digits, - and _", "[locations.shop]"
                )
            )
        elif name.startswith(TRANSIT_PREFIX.rstrip(":")):
            issues.append(
                ConfigIssue(
                    file, prefix, "names starting with 'transit' are kept for units in transit", ""
                )
            )
        reader = TableReader(body, file=file, prefix=prefix, issues=issues)
        kind = reader.string("kind", "store", choices=LOCATION_KINDS)
        channels = reader.string_list("channels")
        reader.reject_unknown()
        out.append(LocationSettings(name, kind, channels))
    return tuple(out)


def resolve_channel_locations(
    locations: Sequence[LocationSettings],
    channels: Sequence[tuple[str, str, tuple[str, ...]]],
    *,
    file: str,
    issues: list[ConfigIssue],
) -> dict[str, tuple[str, ...]]:
    """Each channel's locations, in order, from ``channels`` = (name, type, its own list).

    Every inconsistency is an issue that says what to write instead.
    """
    names = [loc.name for loc in locations]
    known = ", ".join(names)
    channel_names = {name for name, _, _ in channels}
    out: dict[str, tuple[str, ...]] = {}
    for loc in locations:
        for channel in loc.channels:
            if channel not in channel_names:
                issues.append(
                    ConfigIssue(
                        file,
                        f"locations.{loc.name}.channels",
                        f"names channel {channel!r}, which is not configured",
                        f"one of: {', '.join(sorted(channel_names))}",
                    )
                )
    for name, type_name, own in channels:
        key = f"channels.{name}.locations"
        listed_by = tuple(loc.name for loc in locations if name in loc.channels)
        if own and not locations:
            issues.append(
                ConfigIssue(
                    file,
                    key,
                    "names locations, but no [locations.<name>] table is configured",
                    f'[locations.{own[0]}] kind = "store"',
                )
            )
            continue
        if not locations:
            continue
        problem = False
        for location in own:
            if location not in names:
                issues.append(
                    ConfigIssue(file, key, f"{location!r} is not a configured location", known)
                )
                problem = True
        if len(set(own)) != len(own):
            issues.append(ConfigIssue(file, key, "names a location twice", ""))
            problem = True
        if own:
            for location in listed_by:
                if location not in own:
                    issues.append(
                        ConfigIssue(
                            file,
                            key,
                            f"does not name {location!r}, whose table says {name!r} sells from it",
                            f"add {location!r} here, or remove {name!r} from "
                            f"locations.{location}.channels",
                        )
                    )
                    problem = True
            for loc in locations:
                if loc.name in own and loc.channels and name not in loc.channels:
                    issues.append(
                        ConfigIssue(
                            file,
                            f"locations.{loc.name}.channels",
                            f"does not name {name!r}, which says it sells from {loc.name!r}",
                            f"add {name!r} here, or remove {loc.name!r} from {key}",
                        )
                    )
                    problem = True
        chosen = own or listed_by or (tuple(names) if len(names) == 1 else ())
        if not chosen and not problem:
            issues.append(
                ConfigIssue(
                    file,
                    f"channels.{name}",
                    "sells from no location (several are configured)",
                    f'locations = ["{names[0]}"]',
                )
            )
            continue
        if type_name in TILL_TYPES and len(chosen) > 1:
            issues.append(
                ConfigIssue(
                    file,
                    key,
                    f"a till sells from its store's one location, not {len(chosen)}",
                    f'locations = ["{chosen[0]}"]',
                )
            )
            continue
        if not problem:
            out[name] = chosen
    return out


def default_location(locations: Sequence[LocationSettings]) -> str:
    """Where syncd's own documents happen when they name none: the first location."""
    return locations[0].name if locations else DEFAULT_LOCATION
