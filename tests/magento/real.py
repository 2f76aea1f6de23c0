"""Helpers for the tests against the real Magento (tests/realshops.py starts it): its own
`mgshop.py` for placing and handling orders as a customer and the merchant do, raw REST calls,
and the comparison of answers' shapes with the emulator's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp

from tests.realshops import RealShop

ADMIN = {"username": "admin", "password": "Adm1nPassw0rd1"}


def mgshop(shop: RealShop) -> ModuleType:
    """The shop's helper ($MAGENTO_HELPER, standard library only), imported from its file."""
    spec = importlib.util.spec_from_file_location("mgshop", shop["MAGENTO_HELPER"])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sql(shop: RealShop, statement: str) -> str:
    """One statement on the shop's MariaDB through its socket (set-up REST cannot do)."""
    out = subprocess.run(
        ["mariadb", "--no-defaults", "-S", shop["MAGENTO_DB_SOCKET"], "-N", "magento", "-e"]
        + [statement],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def revoke_admin_tokens(shop: RealShop) -> None:
    """Every admin token issued until now is refused from now on: Magento's own JWT revocation
    (``jwt_auth_revoked``: user type 2 = admin, ``revoke_before`` in seconds; a token issued in
    that second counts as revoked, so wait for the next second before logging in again)."""
    now = int(time.time())
    sql(
        shop,
        "REPLACE INTO jwt_auth_revoked (user_type_id, user_id, revoke_before) "
        f"SELECT 2, user_id, {now} FROM admin_user",
    )
    # Magento caches a revocation once it has read it (JwtUserToken's
    # FastStorageRevokedWrapper, key jwt-user-token:revoked:<type>:<user>, no tags): an
    # earlier revocation would hide this one. Its file-cache entries go with it.
    for entry in Path(shop["MAGENTO_SHOP"], "var", "cache").glob("*/*JWT_USER_TOKEN_REVOKED_2_*"):
        entry.unlink(missing_ok=True)
    time.sleep(max(0.0, now + 1.05 - time.time()))


async def ask(
    http: aiohttp.ClientSession,
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    params: dict[str, str] | None = None,
    body: Any = None,
    store: str = "default",
) -> tuple[int, Any]:
    """(status, parsed JSON, Text or None) of /rest/<store>/V1/<path>; never raises on HTTP
    errors."""
    url = f"{base.rstrip('/')}/rest/{store + '/' if store else ''}V1/{path}"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(
        method, url, params=params, json=body, headers=headers, allow_redirects=False
    ) as resp:
        raw = await resp.read()
        if resp.content_type != "application/json":  # a 500's text/plain (observed)
            return resp.status, Text(raw.decode("utf-8", "replace")) if raw else None
        return resp.status, json.loads(raw) if raw else None


class Text(str):
    """An answer that is not JSON (its Content-Type says so): compared as its own kind."""


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Text):
        return "text/plain"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "list", dict: "object"}.get(type(value), type(value).__name__)


def _merged(values: list[Any]) -> Any:
    """The elements of a list as one: objects merged key by key (first non-null wins)."""
    if not values or not all(isinstance(v, dict) for v in values):
        return values[0] if values else None
    out: dict[str, Any] = {}
    for value in values:
        for key, item in value.items():
            if out.get(key) is None:
                out[key] = item
            elif isinstance(item, dict) and isinstance(out[key], dict):
                out[key] = _merged([out[key], item])
    return out


def shape_problems(real: Any, emulated: Any, where: str = "$") -> list[str]:
    """How the emulator's answer differs in shape from the real one: a key the real shop never
    sends, a value of another JSON type (null in the real answer matches anything), an object
    where a list is. Keys the emulator leaves out are not problems (see ``missing``)."""
    if real is None:
        return []
    if kind(real) != kind(emulated):
        return [f"{where}: real {kind(real)}, emulator {kind(emulated)}"]
    problems: list[str] = []
    if isinstance(real, dict):
        for key, value in emulated.items():
            if key not in real:
                problems.append(f"{where}.{key}: not in the real answer")
            else:
                problems += shape_problems(real[key], value, f"{where}.{key}")
    elif isinstance(real, list) and real and emulated:
        model = _merged(real)
        for n, value in enumerate(emulated):
            problems += shape_problems(model, value, f"{where}[{n}]")
    return problems


def missing(answer: Any, keys: list[str], where: str) -> list[str]:
    """Keys (dotted paths; ``items[]`` means every element) absent from an answer."""
    out: list[str] = []
    for key in keys:
        values = [answer]
        for part in key.split("."):
            nxt: list[Any] = []
            for value in values:
                name, each = part.removesuffix("[]"), part.endswith("[]")
                if not isinstance(value, dict) or name not in value:
                    out.append(f"{where}: no {key}")
                    break
                nxt.extend(value[name] if each else [value[name]])
            values = nxt
    return sorted(set(out))
