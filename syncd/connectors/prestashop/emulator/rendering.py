"""How the emulated PrestaShop shows its objects: fields, value types, envelopes, XML, and the
list parameters (display, filter, sort, limit) with PrestaShop's error codes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from syncd.connectors.prestashop.emulator.state import (
    STATE_FLAGS,
    STATES,
    Combination,
    Order,
    PrestaShopEmulator,
    Product,
    StockAvailable,
    native_numbers,
)

XLINK = "http://www.w3.org/1999/xlink"
HREF = f"{{{XLINK}}}href"


class Multilingual(dict[int, str]):
    """A multilingual field's values by language id."""


def _resource_fields(emulator: PrestaShopEmulator, resource: str, obj: Any) -> dict[str, Any]:
    """The fields of one object as PrestaShop shows them (values as strings)."""
    if resource == "products":
        p: Product = obj
        return {
            "id": p.id,
            "reference": p.reference,
            "ean13": p.ean13,
            "name": Multilingual(emulator.translations(p.name)),
            "type": "pack" if p.pack_items else "simple",
            "pack_stock_type": p.pack_stock_type,
            "associations": {
                "combinations": [{"id": c} for c in p.combinations],
                "product_bundle": [
                    {"id": pid, "id_product_attribute": attr, "quantity": units}
                    for pid, attr, units in p.pack_items
                ],
                "stock_availables": [
                    {"id": s.id, "id_product_attribute": s.id_product_attribute}
                    for s in emulator.stock_by_product.get(p.id, [])
                ],
            },
        }
    if resource == "combinations":
        c: Combination = obj
        return {"id": c.id, "id_product": c.id_product, "reference": c.reference, "ean13": c.ean13}
    if resource == "stock_availables":
        s: StockAvailable = obj
        fields: dict[str, Any] = {
            "id": s.id,
            "id_product": s.id_product,
            "id_product_attribute": s.id_product_attribute,
            "id_shop": s.id_shop,
            "id_shop_group": s.id_shop_group,
            "quantity": s.quantity,
            "depends_on_stock": s.depends_on_stock,
            "out_of_stock": s.out_of_stock,
        }
        if not emulator.version.startswith("1."):
            fields["location"] = s.location
        return fields
    if resource == "orders":
        o: Order = obj
        return {
            "id": o.id,
            "reference": o.reference,
            "id_shop": o.id_shop,
            "current_state": o.current_state,
            "valid": int(STATE_FLAGS[o.current_state][0]),
            "date_add": o.date_add,
            "date_upd": o.date_upd,
            "associations": {
                "order_rows": [
                    {
                        "id": r.id,
                        "product_id": r.product_id,
                        "product_attribute_id": r.product_attribute_id,
                        "product_quantity": r.product_quantity,
                        "product_name": r.product_name,
                        "product_reference": r.product_reference,
                        "product_ean13": r.product_ean13,
                    }
                    for r in o.rows
                ]
            },
        }
    if resource == "order_details":
        order, r = obj
        return {
            "id": r.id,
            "id_order": order.id,
            "product_id": r.product_id,
            "product_attribute_id": r.product_attribute_id,
            "product_name": r.product_name,
            "product_reference": r.product_reference,
            "product_quantity": r.product_quantity,
            "product_quantity_refunded": r.quantity_refunded,
            "product_quantity_return": 0,
            "product_quantity_reinjected": r.quantity_reinjected,
        }
    if resource == "order_states":
        sid, (logable, shipped, paid) = obj
        name = next(k for k, v in STATES.items() if v == sid)
        return {
            "id": sid,
            "name": Multilingual(emulator.translations(name)),
            "logable": int(logable),
            "shipped": int(shipped),
            "paid": int(paid),
        }
    if resource == "configurations":
        cid, name, value = obj
        return {"id": cid, "value": value, "name": name}
    if resource == "order_histories":
        return dict(obj)
    raise KeyError(resource)


def _objects(emulator: PrestaShopEmulator, resource: str) -> dict[int, Any]:
    if resource == "products":
        return dict(emulator.products)
    if resource == "combinations":
        return dict(emulator.combinations)
    if resource == "stock_availables":
        return dict(emulator.stock)
    if resource == "orders":
        return dict(emulator.orders)
    if resource == "order_details":
        return {r.id: (o, r) for o in emulator.orders.values() for r in o.rows}
    if resource == "order_states":
        return {sid: (sid, flags) for sid, flags in STATE_FLAGS.items()}
    if resource == "configurations":
        settings = {
            **STATES,
            "PS_LANG_DEFAULT": 1,
            "PS_PACK_STOCK_TYPE": emulator.pack_stock_type_default,
        }
        return {
            i: (i, name, str(value)) for i, (name, value) in enumerate(settings.items(), start=1)
        }
    if resource == "order_histories":
        return {h["id"]: h for h in emulator.histories}
    raise KeyError(resource)


SINGULAR = {
    "products": "product",
    "combinations": "combination",
    "stock_availables": "stock_available",
    "orders": "order",
    "order_details": "order_detail",
    "order_states": "order_state",
    "configurations": "configuration",
    "order_histories": "order_history",
}
ASSOCIATION_ITEM = {
    "order_rows": "order_row",
    "combinations": "combination",
    "stock_availables": "stock_available",
}
METHODS = {
    "stock_availables": {"GET", "HEAD", "PUT", "PATCH"},
    "order_histories": {"GET", "HEAD", "POST"},
}
DATE_FIELDS = {"date_add", "date_upd"}


class WsError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _xml_value(
    parent: ET.Element, name: str, value: Any, base: str, language: int | None = None
) -> None:
    if isinstance(value, Multilingual):
        node = ET.SubElement(parent, name)
        if language is not None:
            node.text = f"\x00CDATA{value.get(language, '')}\x00"
            return
        for lang, item in value.items():
            sub = ET.SubElement(
                node, "language", {"id": str(lang), HREF: f"{base}/api/languages/{lang}"}
            )
            sub.text = f"\x00CDATA{item}\x00"
        return
    if isinstance(value, dict):
        node = ET.SubElement(parent, name)
        for key, item in value.items():
            _xml_value(node, key, item, base, language)
        return
    if isinstance(value, list):
        node = ET.SubElement(
            parent, name, {"nodeType": ASSOCIATION_ITEM.get(name, name), "api": name}
        )
        for item in value:
            child = ET.SubElement(node, ASSOCIATION_ITEM.get(name, name))
            for key, v in item.items():
                sub = ET.SubElement(child, key)
                sub.text = f"\x00CDATA{v}\x00"
        return
    node = ET.SubElement(parent, name)
    node.text = f"\x00CDATA{'' if value is None else value}\x00"


ET.register_namespace("xlink", XLINK)


def _to_xml(body: ET.Element) -> str:
    text = ET.tostring(body, encoding="unicode")
    if "xmlns:xlink" not in text.split(">", 1)[0]:
        text = text.replace("<prestashop", f'<prestashop xmlns:xlink="{XLINK}"', 1)
    text = re.sub(
        r"\x00CDATA(.*?)\x00", lambda m: f"<![CDATA[{_unescape(m[1])}]]>", text, flags=re.S
    )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
    )


def json_value(value: Any, numbers: bool, language: int | None = None) -> Any:
    """One value as WebserviceOutputJSON writes it: whole numbers as numbers on 8.0/8.1
    (``numbers``), else strings; a multilingual field as a string with one language (or with
    ``language=N``), else ``[{"id": "1", "value": "…"}, …]`` (renderField)."""
    if isinstance(value, Multilingual):
        if language is not None:
            return value.get(language, "")
        if len(value) == 1:
            return next(iter(value.values()))
        return [
            {"id": lang if numbers else str(lang), "value": item} for lang, item in value.items()
        ]
    if isinstance(value, dict):
        return {k: json_value(v, numbers, language) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v, numbers, language) for v in value]
    if value is None:
        return ""
    if isinstance(value, int) and numbers:
        return value
    return str(value)


def _php_empty(value: Any) -> bool:
    return value in ("", "0", 0, None) or value == [] or value == {}


def json_object(
    fields: dict[str, Any],
    version: str,
    *,
    single: bool,
    language: int | None = None,
) -> dict[str, Any]:
    """An object's fields as JSON values. The object's own ``id`` is always a number (the
    EntityMapper casts it). A single object (no ``display``) goes through PHP's array_filter in
    WebserviceOutputJSON::overrideContent: every field whose value is 0, "0", "" or empty is
    left out (observed on 8.2.0: a stock row without id_product_attribute)."""
    numbers = native_numbers(version)
    out = {
        k: (int(v) if k == "id" else json_value(v, numbers, language)) for k, v in fields.items()
    }
    if single:
        out = {k: v for k, v in out.items() if not _php_empty(v)}
    return out


def written_object(fields: dict[str, Any], version: str) -> dict[str, Any]:
    """The object a PUT, PATCH or POST answers: a single object (filtered) whose ``id`` is the
    string of the request body (observed on 8.2.0: {"stock_available":{"id":"7",…}})."""
    out = json_object(fields, version, single=True)
    out["id"] = str(fields["id"])
    return out


def _project(fields: dict[str, Any], display: list[str] | None) -> dict[str, Any]:
    """The displayed fields, in the resource's own order (not the order of ``display``)."""
    if display is None:
        return fields
    plain = {name for name in display if "[" not in name}
    out: dict[str, Any] = {k: v for k, v in fields.items() if k in plain}
    for name in display:
        match = re.fullmatch(r"(\w+)\[([\w,]+)\]", name)
        if match:
            assoc, sub = match[1], match[2].split(",")
            items = fields.get("associations", {}).get(assoc, [])
            out.setdefault("associations", {})[assoc] = [{k: i.get(k) for k in sub} for i in items]
    return out


def _parse_display(value: str | None, allowed: set[str]) -> list[str] | None | str:
    if value is None:
        return None
    if value == "full":
        return "full"
    if not (value.startswith("[") and value.endswith("]")):
        raise WsError(
            400,
            36,
            f'The "display" syntax is incorrect. You can use "full" or "[field_1,field_2,field_3,...]". These are the available fields: ({", ".join(sorted(allowed))})',
        )
    names = re.findall(r"\w+\[[^\]]*\]|\w+", value[1:-1])
    for name in names:
        base = name.split("[", 1)[0]
        if base not in allowed and base not in ("order_rows", "combinations", "stock_availables"):
            raise WsError(
                400,
                35,
                f'Unable to display this field "{base}". However, these are available: {", ".join(sorted(allowed))}',
            )
    return names


def _matcher(raw: str) -> Callable[[str], bool]:
    """One filter[field] value in PrestaShop's grammar (SQLUtils::getSQLRetrieveFilter)."""
    negate = raw.startswith("!")
    if negate:
        raw = raw[1:]
    if raw.startswith(">[") and raw.endswith("]"):
        bound = raw[2:-1]
        test: Callable[[str], bool] = lambda v: _compare(v, bound) > 0  # noqa: E731
    elif raw.startswith("<[") and raw.endswith("]"):
        bound = raw[2:-1]
        test = lambda v: _compare(v, bound) < 0  # noqa: E731
    elif raw.startswith("%[") or (raw.startswith("[") and raw.endswith("]%")):
        inner = raw.strip("%")[1:-1].lower()
        if raw.startswith("%[") and raw.endswith("]%"):
            test = lambda v: inner in v.lower()  # noqa: E731
        elif raw.startswith("%["):
            test = lambda v: v.lower().endswith(inner)  # noqa: E731
        else:
            test = lambda v: v.lower().startswith(inner)  # noqa: E731
    elif raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1]
        if "," in inner and all(re.fullmatch(r"[\d.:\-\s]+", part) for part in inner.split(",", 1)):
            low, high = inner.split(",", 1)
            test = lambda v: _compare(v, low) >= 0 and _compare(v, high) <= 0  # noqa: E731
        else:
            options = set(inner.split("|"))
            test = lambda v: v in options  # noqa: E731
    else:
        test = lambda v: v == raw  # noqa: E731
    return (lambda v: not test(v)) if negate else test


def _compare(a: str, b: str) -> int:
    try:
        fa, fb = float(a), float(b)
        return (fa > fb) - (fa < fb)
    except ValueError:
        return (a > b) - (a < b)


def _indexed(emulator: PrestaShopEmulator, resource: str, query: dict[str, str]) -> dict[int, Any]:
    """The objects a list can come from, using the emulator's indexes for the common lookups."""
    raw_ref = query.get("filter[reference]", "")
    if resource in emulator.by_reference and re.fullmatch(r"\[[^\[\],%|]*\]", raw_ref):
        return {o.id: o for o in emulator.by_reference[resource].get(raw_ref[1:-1], [])}
    raw_pid = query.get("filter[id_product]", "")
    if resource == "stock_availables" and re.fullmatch(r"\[\d+\]", raw_pid):
        return {s.id: s for s in emulator.stock_by_product.get(int(raw_pid[1:-1]), [])}
    return _objects(emulator, resource)


def _filtered_list(
    emulator: PrestaShopEmulator, resource: str, query: dict[str, str]
) -> list[dict[str, Any]]:
    objects = _indexed(emulator, resource, query)
    # Exact filters on plain attributes narrow the objects before rendering (a big catalogue).
    handled: set[str] = set()
    for key, raw in query.items():
        match = re.fullmatch(r"filter\[(\w+)\]", key)
        if not match or not re.fullmatch(r"\[[^\[\],%]*\]", raw):
            continue
        wanted = set(raw[1:-1].split("|"))
        sample = next(iter(objects.values()), None)
        if sample is not None and hasattr(sample, match[1]) and match[1] not in DATE_FIELDS:
            name = match[1]
            objects = {k: o for k, o in objects.items() if str(getattr(o, name)) in wanted}
            handled.add(key)
    rest = [k for k in query if k.startswith("filter[") and k not in handled]
    limit_early = query.get("limit", "")
    if not rest and "sort" not in query and re.fullmatch(r"\d+,\d+", limit_early):
        # Pages of an unfiltered list: render only the page (objects are kept in id order).
        first, count = (int(x) for x in limit_early.split(","))
        ids = sorted(objects)[first : first + count]
        objects = {i: objects[i] for i in ids}
        query = {k: v for k, v in query.items() if k != "limit"}
    rows = [_resource_fields(emulator, resource, obj) for _, obj in sorted(objects.items())]
    allowed = {k for k in (rows[0] if rows else _blank(emulator, resource)) if k != "associations"}
    date_ok = query.get("date") == "1"
    for key, raw in query.items():
        match = re.fullmatch(r"filter\[(\w+)\]", key)
        if not match:
            continue
        name = match[1]
        if name in DATE_FIELDS and not date_ok or name not in allowed:
            close = [a for a in allowed if a[:4] == name[:4]]
            hint = f' Did you mean: "{close[0]}"?' if close else ""
            raise WsError(
                400,
                32,
                f'This filter does not exist.{hint} The full list is: "{", ".join(sorted(allowed))}"',
            )
        if raw == "":
            raise WsError(400, 33, f'The filter "{name}" is malformed.')
        test = _matcher(raw)
        rows = [r for r in rows if test(str(r.get(name, "")))]
    sort = query.get("sort")
    if sort:
        specs = sort[1:-1].split(",") if sort.startswith("[") else [sort]
        for spec in reversed(specs):
            m = re.fullmatch(r"(\w+)_(ASC|DESC)", spec)
            if not m:
                raise WsError(
                    400,
                    37,
                    'The "sort" value has to be formed as this example: "field_ASC" or \'[field_1_DESC,field_2_ASC,field_3_ASC,...]\' ("field" has to be an available field)',
                )
            if m[1] not in allowed or (m[1] in DATE_FIELDS and not date_ok):
                raise WsError(
                    400,
                    38,
                    f"Unable to filter by this field. However, these are available: {', '.join(sorted(allowed))}",
                )
            field_name = m[1]
            rows.sort(key=lambda r: _sort_key(r.get(field_name)), reverse=m[2] == "DESC")
    limit = query.get("limit")
    if limit:
        m = re.fullmatch(r"(\d+)(?:,(\d+))?", limit)
        if not m:
            raise WsError(
                400, 39, 'The "limit" value has to be formed as this example: "5,25" or "10"'
            )
        if m[2] is None:
            rows = rows[: int(m[1])]
        else:
            rows = rows[int(m[1]) : int(m[1]) + int(m[2])]
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _blank(emulator: PrestaShopEmulator, resource: str) -> dict[str, Any]:
    blanks = {
        "orders": ["id", "reference", "id_shop", "current_state", "valid", "date_add", "date_upd"],
        "order_details": [
            "id",
            "id_order",
            "product_id",
            "product_attribute_id",
            "product_name",
            "product_reference",
            "product_quantity",
            "product_quantity_refunded",
            "product_quantity_return",
            "product_quantity_reinjected",
        ],
        "products": ["id", "reference", "ean13", "name", "type", "pack_stock_type"],
        "combinations": ["id", "id_product", "reference", "ean13"],
        "stock_availables": [
            "id",
            "id_product",
            "id_product_attribute",
            "id_shop",
            "id_shop_group",
            "quantity",
            "depends_on_stock",
            "out_of_stock",
        ],
        "order_histories": ["id", "id_order", "id_order_state", "date_add"],
    }
    return dict.fromkeys(blanks.get(resource, ["id"]), "")
