"""The `syncd` command line (DESIGN.md §5). Exit codes: 0 success, 1 runtime failure, 2 usage/config."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence

from syncd.config import Settings, load_config
from syncd.exceptions import ConfigError, SyncdError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


# The emulators' admin routes (syncd/connectors/prestashop/emulator/routes.py::_admin_routes,
# syncd/connectors/magento/emulator.py::_admin_routes, syncd/connectors/emulation.py).
EMULATOR_EPILOG = """\
It prints one JSON line first: the URL and the shop's credentials (PrestaShop: api_key;
Magento: username, password, access_token; Shopify: access_token, client_secret for webhooks).
Put them in the channel's table of the config.

What a tester does to the emulated shop (JSON bodies; the answer is JSON):
  POST /__emulator/orders             place an order
       prestashop: {"lines": {"SHIRT-0000-38": 2}, "state": "PS_OS_PAYMENT"}
       magento:    {"lines": {"SHIRT-0000-38": 2}}
       shopify:    {"lines": {"SHIRT-0000-38": 2}, "test": false}
  POST /__emulator/orders/ID/state    prestashop: {"state": "PS_OS_CANCELED"} (or PS_OS_SHIPPING…)
  POST /__emulator/orders/ID/refund   prestashop: {"sku": "…", "quantity": 1, "restock": true}
                                      magento: {"lines": {"…": 1}, "return_to_stock": true}
  POST /__emulator/orders/ID/ACTION   magento: ACTION = ship, invoice or cancel (no body)
                                      shopify: cancel {"restock": true}; refund {"lines":
                                      {"…": {"quantity": 1, "restockType": "RETURN"}}}; edit
                                      {"sku": "…", "quantity": 1, "restock": true}
  GET  /__emulator/quantities         every SKU's figure (magento: source and salable)
  POST /__emulator/quantities         set figures by hand, as a back office edit: {"SKU": 5}
  POST /__emulator/products           add a product
       prestashop: {"reference": "MUG", "quantity": 3, "name": "Mug", "ean13": "…",
                    "combinations": [{"reference": "MUG-RED", "quantity": 1}]}
       magento:    {"sku": "MUG", "quantity": 3, "name": "Mug", "parent": null}
  GET|POST /__emulator/faults         read or set faults: latency_ms, error_rate, error_status,
                                      stall_rate, stall_seconds, rate_limit_rate, retry_after, down
  GET|POST /__emulator/writes         the stock writes received (POST: start recording afresh)
  POST /__emulator/expire-tokens      magento: every admin token expires now
  GET|POST /__emulator/inventory      shopify: every SKU's available figure; POST sets them
  POST /__emulator/webhooks           shopify: {"address": URL, "topics": [...]} subscribes;
                                      delay_seconds, duplicate, shuffle, hold: how they arrive
  POST /__emulator/webhooks/deliver   shopify: release the webhooks held
  GET|POST /__emulator/throttle       shopify: the cost bucket; POST {"plan": "plus"} or
                                      {"available": 0}
  GET  /__emulator/bulk/ID.jsonl      shopify: a bulk operation's result (its url says so)

Example: curl -s -X POST http://127.0.0.1:P/__emulator/orders -d '{"lines": {"SHIRT-0000-38": 1}}'
"""


def _print_config_error(err: ConfigError) -> None:
    from syncd.logs import redact_userinfo, scrub

    # A URL's user info never reaches the terminal, whichever check quoted the URL.
    if err.issues:
        for issue in err.issues:
            print(f"error: {redact_userinfo(scrub(str(issue)))}", file=sys.stderr)
        print(f"{len(err.issues)} error(s); nothing was started.", file=sys.stderr)
    else:
        print(f"error: {redact_userinfo(scrub(str(err)))}", file=sys.stderr)


def _load(path: str) -> Settings:
    return load_config(path)


def cmd_check_config(args: argparse.Namespace) -> int:
    from syncd.alerts.settings import alert_warnings

    settings = _load(args.config)
    for warning in alert_warnings(settings.alerts, file=args.config):
        print(f"warning: {warning}", file=sys.stderr)
    names = ", ".join(f"{c.name} ({c.type})" for c in settings.channels)
    print(
        f"{args.config}: valid; ledger {settings.ledger.backend}; channels: {names}",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from syncd.ledger import open_store

    settings = _load(args.config)

    async def go() -> list[int]:
        store = await open_store(settings.ledger, migrate=False, check=False)
        try:
            return await store.migrate()
        finally:
            await store.close()

    applied = asyncio.run(go())
    where = settings.ledger.path if settings.ledger.backend == "sqlite" else "PostgreSQL"
    if applied:
        print(
            f"ledger at {where}: applied migration(s) {', '.join(map(str, applied))}",
            file=sys.stderr,
        )
    else:
        print(f"ledger at {where}: schema already up to date", file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from syncd.cli.run import run_daemon
    from syncd.logs import configure_logging

    settings = _load(args.config)
    configure_logging(settings.log.level, settings.log.format)
    return asyncio.run(run_daemon(settings))


def cmd_status(args: argparse.Namespace) -> int:
    from syncd.cli.status import gather_status, render_status

    settings = _load(args.config)
    report = asyncio.run(gather_status(settings))
    if args.json:
        print_json(report)
    else:
        render_status(report, settings.web.timezone)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.cli.demo import run_demo

    return asyncio.run(run_demo(args.seconds, args.json, products=args.products))


def cmd_till_parse(args: argparse.Namespace) -> int:
    from syncd.cli.till import parse_command

    return parse_command(
        args.file,
        preset=args.preset,
        as_json=args.json,
        config=args.config,
        channel=args.channel,
    )


def cmd_emulator(args: argparse.Namespace) -> int:
    import importlib

    try:
        module = importlib.import_module(f"syncd.connectors.{args.shop}.emulator")
    except ModuleNotFoundError:
        print(f"error: the {args.shop} emulator is not part of this build yet", file=sys.stderr)
        return EXIT_USAGE
    module.run_standalone(host=args.host, port=args.port, products=args.products)
    return EXIT_OK


def cmd_tail(args: argparse.Namespace) -> int:
    from syncd.cli.tail import DEFAULT_URL, run_tail, url_from_settings
    from syncd.config import credential_path

    url, password = args.url, None
    if args.config:
        settings = _load(args.config)
        url = url or url_from_settings(settings)
        if settings.web.password is not None:
            password = settings.web.password.reveal()
    if args.password_file:
        try:
            password = credential_path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            print(
                f"error: cannot read --password-file {args.password_file}: {err}", file=sys.stderr
            )
            return EXIT_USAGE
    return run_tail(url or DEFAULT_URL, as_json=args.json, password=password)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncd", description="One authoritative stock ledger for a shop's till and webshops."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("check-config", cmd_check_config, "validate a config file; every error at once")
    p.add_argument("--config", required=True, metavar="FILE")
    p = add("migrate", cmd_migrate, "create or upgrade the ledger schema")
    p.add_argument("--config", required=True, metavar="FILE")
    p = add("run", cmd_run, "the daemon (foreground; systemd runs this)")
    p.add_argument("--config", required=True, metavar="FILE")
    p = add(
        "demo", cmd_demo, "the embedded default end to end: SQLite ledger, emulated shop, CSV till"
    )
    p.add_argument("--seconds", type=float, default=None, metavar="N")
    p.add_argument("--json", action="store_true")
    p.add_argument("--products", type=int, default=40, metavar="N")
    p = add("status", cmd_status, "per-channel health, lag, outbox, open conflicts")
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")

    till = sub.add_parser("till", help="till (CSV) tools", description="till (CSV) tools")
    till_sub = till.add_subparsers(dest="till_command", required=True, metavar="COMMAND")
    p = till_sub.add_parser("parse", help="show the documents a till file would apply")
    p.set_defaults(func=cmd_till_parse)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--preset", default=None, metavar="P")
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="read the file as this config's till does (its columns mapping and time zone)",
    )
    p.add_argument("--channel", default=None, metavar="NAME", help="the till, when several")
    p.add_argument("--json", action="store_true")

    p = add("tail", cmd_tail, "the live event feed of a running daemon (its status page's /ws)")
    p.add_argument("--url", default=None, help="the status page (default http://127.0.0.1:8080)")
    p.add_argument("--config", default=None, metavar="FILE", help="take the address from [web]")
    p.add_argument("--password-file", default=None, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    p = add("emulator", cmd_emulator, "run one shop emulator, standalone, for trying a connector")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EMULATOR_EPILOG
    p.add_argument(
        "shop",
        choices=("prestashop", "magento", "shopify", "woocommerce"),
        help="the shop to emulate",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    p.add_argument(
        "--port", type=int, default=0, metavar="P", help="the port (default 0: any free one)"
    )
    p.add_argument(
        "--products",
        type=int,
        default=20,
        metavar="N",
        help="SKUs in the demo catalogue (SHIRT-0000-38 …, 0-12 units each; default 20)",
    )

    from syncd.cli.alerts import add_commands as add_alert_commands

    add_alert_commands(sub)

    from syncd.cli.reconcile import add_commands as add_reconcile_commands

    add_reconcile_commands(sub)

    from syncd.cli.reports import add_commands as add_report_commands

    add_report_commands(sub)

    from syncd.cli.stock import add_commands as add_stock_commands

    add_stock_commands(sub)

    from syncd.cli.kits import add_commands as add_kit_commands

    add_kit_commands(sub)
    from syncd.cli.transfer import add_command as add_transfer_command

    add_transfer_command(sub)
    from syncd.cli.setup import add_command as add_setup_command

    add_setup_command(sub)
    from syncd.cli.service import add_command as add_service_command

    add_service_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as err:
        _print_config_error(err)
        return EXIT_USAGE
    except SyncdError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
