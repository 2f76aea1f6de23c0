"""`python -m syncd.cli.screenshot`: a picture of the overview of a running demo, for the README.

Starts the real demo (emulated shops, a CSV till, generated sales), lets it run, then opens the
overview in headless Chromium at 1280×800 and saves a PNG. Needs Playwright (the test extra) and
a Chromium (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("SYNCD_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}


def launch_options() -> dict[str, Any]:
    """How syncd starts Chromium: the system one, without the sandbox (CI runs as root)."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(
            f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) "
            "or set SYNCD_CHROMIUM to its path"
        )
    return {"executable_path": CHROMIUM, "args": ["--no-sandbox"], "headless": True}


async def capture(url: str, out: Path, *, lang: str = "en") -> None:
    """Open ``url`` at 1280×800 and save a PNG of what is on screen."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch_options())
        try:
            page = await browser.new_page(viewport=VIEWPORT, locale=lang)  # type: ignore[arg-type]
            await page.goto(f"{url}/lang/{lang}?next=/")
            await page.wait_for_selector("#live-status.live-on", timeout=10_000)
            await page.wait_for_timeout(500)
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
        finally:
            await browser.close()


async def demo_screenshot(out: Path, seconds: float, *, lang: str = "en") -> None:
    from syncd.cli.demo import Demo
    from syncd.logs import configure_logging

    configure_logging("error", "json")
    folder = Path(tempfile.mkdtemp(prefix="syncd-shot-"))
    demo = Demo(folder, products=40, seed=7)
    await demo.start()
    try:
        assert demo.daemon is not None
        await demo.run_traffic(seconds)
        await demo.settle(limit=5)
        await capture(f"http://127.0.0.1:{demo.daemon.web_port}", out, lang=lang)
    finally:
        await demo.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m syncd.cli.screenshot", description=__doc__)
    parser.add_argument("--out", default="docs/status-page.png", metavar="FILE")
    parser.add_argument("--seconds", type=float, default=90.0, metavar="N")
    parser.add_argument("--lang", choices=("en", "fr"), default="en")
    args = parser.parse_args(argv)
    try:
        asyncio.run(demo_screenshot(Path(args.out), args.seconds, lang=args.lang))
    except FileNotFoundError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    sys.stderr.write(f"saved {args.out}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
