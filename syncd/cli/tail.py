"""`syncd tail`: the live event feed of a running daemon, read from its `/ws` with `websockets`.

One line per event: readable text on a terminal, or with ``--json`` one JSON object per line on
stdout and nothing else there. The password (when the page has one) goes as HTTP Basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import connect

from syncd.config import Settings
from syncd.web.auth import is_loopback

DEFAULT_URL = "http://127.0.0.1:8080"


class TailError(Exception):
    """The feed could not be read; the message says what and where."""


def feed_url(url: str) -> str:
    """http(s)://host:port[/…] → ws(s)://host:port/ws."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise TailError(f"{url!r} is not an http(s):// or ws(s):// address of syncd's web page")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # a password never travels in the URL
    return urlunsplit((scheme, netloc, "/ws", "", ""))


def url_from_settings(settings: Settings) -> str:
    host = settings.web.host
    if not is_loopback(host) and host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere: this machine is one of them
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web.port}"


def describe(event: dict[str, Any]) -> str:
    """One readable line for an event."""
    name = str(event.get("event", "?"))
    at = str(event.get("at", ""))
    try:
        clock = datetime.fromisoformat(at).astimezone().strftime("%H:%M:%S")
    except ValueError:
        clock = at[:8]
    rest = {k: v for k, v in event.items() if k not in ("event", "at")}
    channel = rest.pop("channel", "")
    details = " ".join(f"{k}={_short(v)}" for k, v in rest.items())
    return f"{clock}  {name:<17} {channel:<10} {details}".rstrip()


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if " " not in text else json.dumps(text, ensure_ascii=False)


async def tail(
    url: str,
    *,
    as_json: bool,
    password: str | None = None,
    out: TextIO | None = None,
    limit: int | None = None,
) -> int:
    """Print events until the daemon closes the feed (or ``limit`` events were printed)."""
    stream = out or sys.stdout
    target = feed_url(url)
    headers = {}
    if password:
        token = base64.b64encode(f"syncd:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        async with connect(target, additional_headers=headers, open_timeout=10) as ws:
            if not as_json:
                sys.stderr.write(f"following {target} (Ctrl-C stops)\n")
            count = 0
            async for message in ws:
                event = json.loads(message)
                if event.get("event") == "hello" and as_json is False:
                    continue
                stream.write(json.dumps(event) + "\n" if as_json else describe(event) + "\n")
                stream.flush()
                count += 1
                if limit is not None and count >= limit:
                    return 0
    except websockets.exceptions.InvalidStatus as err:
        status = err.response.status_code
        hint = " (give the password with --password-file or --config)" if status == 401 else ""
        raise TailError(f"{target} answered HTTP {status}{hint}") from err
    except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake) as err:
        raise TailError(f"cannot reach {target}: {err}") from err
    except websockets.exceptions.ConnectionClosedError as err:
        raise TailError(f"{target} closed the feed: {err}") from err
    sys.stderr.write(f"{target}: the daemon closed the feed\n")
    return 0


def run_tail(url: str, *, as_json: bool, password: str | None) -> int:
    try:
        return asyncio.run(tail(url, as_json=as_json, password=password))
    except TailError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
