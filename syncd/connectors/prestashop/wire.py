"""The shapes of the PrestaShop webservice's JSON answers: numbers or strings, languages,
lists or single objects, shop-local times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd.exceptions import ParseError
from syncd.ledger.store import to_us

PS_TIME = "%Y-%m-%d %H:%M:%S"
ID_CHUNK = 100  # ids per filter[id]=[a|b|…] (keeps the URL short)


def whole(value: Any, what: str) -> int:
    """A whole number as PrestaShop sends it: "5" (1.7, 8.2), 5 (8.0/8.1 on PHP >= 8.1), or
    absent/"" (a single object leaves out every field whose value is 0 or "")."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value if value is not None else "").strip() or "0")
    except ValueError as err:
        raise ParseError(f"PrestaShop sent {what} = {value!r:.80}, not a whole number") from err


def text(value: Any, language: int | None = None) -> str:
    """A field that may be multilingual: with several languages PrestaShop sends
    ``[{"id": "1", "value": "…"}, …]`` (WebserviceOutputJSON::renderField); the shop's default
    language is picked, else the first. Never a Python repr."""
    if isinstance(value, list):
        entries = [v for v in value if isinstance(v, Mapping)]
        if not entries:
            return ""
        chosen = next(
            (e for e in entries if language is not None and str(e.get("id")) == str(language)),
            entries[0],
        )
        return text(chosen.get("value"), language)
    if isinstance(value, Mapping):  # XML-shaped {"language": …}: not sent in JSON; be safe
        return text(next(iter(value.values()), ""), language)
    return "" if value is None else str(value).strip()


def is_time(value: str) -> bool:
    try:
        datetime.strptime(value, PS_TIME)  # noqa: DTZ007 - only the shape is checked
    except ValueError:
        return False
    return True


def listed(data: Any, key: str) -> list[dict[str, Any]]:
    """The objects listed under ``key`` in a JSON answer. PrestaShop answers ``[]`` (or leaves
    the key out) when nothing matches; any other shape is a ParseError, never "no rows"."""
    if not data:
        return []
    rows = data.get(key) if isinstance(data, dict) else data
    if not rows:
        return []
    if (
        not isinstance(data, dict)
        or not isinstance(rows, list)
        or not all(isinstance(r, dict) for r in rows)
    ):
        raise ParseError(f"PrestaShop sent {key} that are not a list of objects: {rows!r:.80}")
    return rows


def single(data: Any, singular: str, plural: str) -> dict[str, Any]:
    """The one object of a single GET ({} when the answer is empty). With ``display`` in the
    query PrestaShop answers the plural list even for one id (WebserviceOutputJSON::
    renderNodeFooter); without it, the singular object."""
    if not data:
        return {}
    if isinstance(data, dict) and plural in data and singular not in data:
        rows = listed(data, plural)
        if len(rows) > 1:
            raise ParseError(f"PrestaShop sent {len(rows)} {plural} for one id")
        return rows[0] if rows else {}
    value = data.get(singular) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise ParseError(f"PrestaShop sent a {singular} that is not an object: {value!r:.80}")
    return value


def shop_time(value: str, zone: ZoneInfo, what: str) -> datetime:
    """A PrestaShop wall time (shop-local) as an aware datetime; ParseError if it is not one."""
    try:
        local = datetime.strptime(value, PS_TIME).replace(tzinfo=zone)  # noqa: DTZ007
        to_us(local)  # in range for the ledger, in UTC too
    except (ValueError, OverflowError) as err:
        raise ParseError(
            f"PrestaShop sent {what} = {value!r:.80}, not YYYY-MM-DD HH:MM:SS"
        ) from err
    return local


def chunks(ids: Iterable[int]) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[i : i + ID_CHUNK] for i in range(0, len(ordered), ID_CHUNK)]


def ids_filter(ids: Sequence[int]) -> str:
    return "[" + "|".join(str(i) for i in ids) + "]"
