"""`syncd service install|uninstall|status`: the systemd unit of systemd/syncd.service (shipped
in the package as syncd/cli/syncd.service), made for this machine: the venv's syncd, the config's
path, the user, one ``LoadCredential=`` per credential file the config names and one
``ReadWritePaths=`` per folder the daemon writes (till drop folders, stock files, the ledger).
It shows the unit and the commands first and asks (``--yes`` to skip, ``--dry-run`` to only
show); systemctl runs where systemd does (``--no-systemctl`` never)."""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm
from rich.syntax import Syntax

from syncd.config import Settings, load_config
from syncd.settings import Secret

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
STATE_DIR = Path("/var/lib/syncd")  # StateDirectory=syncd: writable and the user's
# What the unit's PrivateTmp=yes and ProtectHome=yes hide from the service.
HIDDEN = (Path("/tmp"), Path("/var/tmp"), Path("/home"), Path("/root"), Path("/run/user"))


@dataclass
class Plan:
    unit_path: Path
    text: str
    commands: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def template() -> str:
    return resources.files("syncd.cli").joinpath("syncd.service").read_text(encoding="utf-8")


def syncd_executable() -> Path:
    """The syncd this interpreter's venv runs (what systemd must start)."""
    beside = Path(sys.executable).parent / "syncd"
    if beside.exists():
        return beside.absolute()
    found = shutil.which("syncd")
    return Path(found).absolute() if found else beside.absolute()


def quoted(arg: str) -> str:
    """One ExecStart= argument, quoted when it has a space or a quote (systemd.service(5))."""
    if arg and not any(c in arg for c in " \t\"'\\"):
        return arg.replace("%", "%%").replace("$", "$$")
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def _secrets(settings: Settings) -> list[tuple[str, Secret]]:
    """Every secret of the config, with the key that holds it."""
    found: list[tuple[str, Secret | None]] = [
        ("[ledger] dsn", settings.ledger.dsn),
        ("[web] password", settings.web.password),
        ("[alerts] smtp_password", settings.alerts.smtp_password),
    ]
    for channel in settings.channels:
        found.append((f"[channels.{channel.name}] webhook_secret", channel.webhook_secret))
        for name in dir(channel.options):
            if name.startswith("_"):
                continue
            value = getattr(channel.options, name, None)
            if isinstance(value, Secret):
                found.append((f"[channels.{channel.name}] {name}", value))
    return [(key, secret) for key, secret in found if secret is not None]


def credentials(settings: Settings, config: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(credential name, file) for LoadCredential=, and what cannot be passed that way."""
    out: list[tuple[str, Path]] = []
    warnings = []
    for key, secret in _secrets(settings):
        if secret.source == "inline":
            warnings.append(
                f"{key} is written in the config itself: move it to a file named by "
                f"{key.split()[-1]}_file (syncd setup does) so systemd passes it as a credential"
            )
            continue
        path = Path(secret.source)
        if path.parent != config.parent:
            warnings.append(
                f"{key}_file names {path}, outside the config's folder: the service reads it "
                "directly (user {user} needs read access); name a file beside the config to pass "
                "it with LoadCredential= instead"
            )
            continue
        if (path.name, path) not in out:
            out.append((path.name, path))
    return out, warnings


def writable_paths(settings: Settings) -> list[Path]:
    """The folders the daemon writes: till drop, done and rejected folders, stock and delta
    files, stock-in drop folders, the SQLite ledger's folder (unless in StateDirectory)."""
    from syncd.connectors.csv_till.settings import TillSettings

    paths: list[Path] = []
    for channel in settings.channels:
        options = channel.options
        if isinstance(options, TillSettings):
            paths += [options.drop_folder, options.done_folder, options.rejected_folder]
            if options.stock_file is not None:
                paths.append(options.stock_file.parent)
            if options.delta_folder is not None:
                paths.append(options.delta_folder)
    paths += [p for p in (settings.stock.receipts_folder, settings.stock.counts_folder) if p]
    if settings.ledger.backend == "sqlite":
        paths.append(settings.ledger.path.parent)
    unique: list[Path] = []
    for path in sorted({p.absolute() for p in paths}, key=lambda p: len(p.parts)):
        if path == STATE_DIR or STATE_DIR in path.parents:
            continue
        if not any(u == path or u in path.parents for u in unique):
            unique.append(path)
    return unique


def render(
    text: str,
    *,
    exec_start: list[str],
    user: str,
    group: str,
    creds: list[tuple[str, Path]],
    rw: list[Path],
    note: str,
) -> str:
    """The template with this machine's lines in place of its examples."""
    out: list[str] = [f"# {note}"]
    done_rw = done_creds = False
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            out.append("ExecStart=" + " ".join(quoted(a) for a in exec_start))
        elif line.startswith("User="):
            out.append(f"User={user}")
        elif line.startswith("Group="):
            out.append(f"Group={group}")
        elif line.startswith("ReadWritePaths="):
            if not done_rw:
                out += [f"ReadWritePaths={quoted(str(p))}" for p in rw]
                done_rw = True
        elif line.startswith("LoadCredential="):
            if not done_creds:
                out += [f"LoadCredential={name}:{path}" for name, path in creds]
                done_creds = True
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def systemd_running(args: argparse.Namespace) -> bool:
    """systemctl is used only where systemd runs this machine (and not --no-systemctl)."""
    if getattr(args, "no_systemctl", False):
        return False
    return shutil.which("systemctl") is not None and Path("/run/systemd/system").is_dir()


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _writable_by(path: Path, user: str) -> bool:
    """Whether ``user`` may write the folder by its mode bits (True when the user is unknown:
    the warning about the missing user says enough)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return True
    info = path.stat()
    if entry.pw_uid in (0, info.st_uid):
        return entry.pw_uid == 0 or bool(info.st_mode & 0o200)
    if info.st_gid == entry.pw_gid:
        return bool(info.st_mode & 0o020)
    return bool(info.st_mode & 0o002)


def plan_install(args: argparse.Namespace, settings: Settings, config: Path) -> Plan:
    unit = Path(args.unit_dir) / f"{args.name}.service"
    creds, warnings = credentials(settings, config)
    warnings = [w.replace("{user}", args.user) for w in warnings]
    rw = writable_paths(settings)
    group = args.user
    if _user_exists(args.user):
        import grp

        group = grp.getgrgid(pwd.getpwnam(args.user).pw_gid).gr_name
    text = render(
        template(),
        exec_start=[str(syncd_executable()), "run", "--config", str(config)],
        user=args.user,
        group=group,
        creds=creds,
        rw=rw,
        note=f"Installed by `syncd service install --config {config}`; source: systemd/syncd.service",
    )
    plan = Plan(unit, text, warnings=warnings)
    for path in [config, *rw]:  # credentials: read by systemd before the namespace is made
        hidden = next((h for h in HIDDEN if h == path or h in path.parents), None)
        if hidden is not None:
            plan.warnings.append(
                f"{path} is under {hidden}, which the unit hides from the service (PrivateTmp=, "
                "ProtectHome=): move it (config and secrets to /etc/syncd, the ledger to "
                "/var/lib/syncd, till folders to /srv/till)"
            )
    for path in rw:
        if not path.exists():
            plan.warnings.append(
                f"{path} does not exist: systemd refuses to start the unit until it does "
                "(ReadWritePaths=)"
            )
        elif not all(
            _writable_by(p, args.user) for p in [path, *(c for c in path.iterdir() if c.is_dir())]
        ):
            plan.warnings.append(
                f"{args.user} cannot write {path}: sudo chown -R {args.user}: {path} (or give "
                f"its group write access and add {args.user} to that group)"
            )
    running = systemd_running(args)
    if not _user_exists(args.user):
        useradd = ["useradd", "--system", "--home-dir", str(STATE_DIR), "--shell"]
        useradd += ["/usr/sbin/nologin", args.user]
        if running:
            plan.commands.append(useradd)
        else:
            plan.warnings.append(f"there is no user {args.user}: {' '.join(useradd)}")
    if running and os.geteuid() == 0:
        plan.commands.append(["chgrp", group, str(config)])  # the config is 0640: its group reads
    if running:
        plan.commands += [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", unit.name],
        ]
    return plan


def _confirm(args: argparse.Namespace, console: Console, question: str) -> bool | None:
    """True to go on; False when declined; None when no one can be asked (exit 2)."""
    if args.yes:
        return True
    if not (sys.stdin.isatty() and console.is_terminal):
        console.print("nothing done: confirm with --yes (or look first with --dry-run)")
        return None
    return bool(Confirm.ask(question, console=console, default=True))


def _show(plan: Plan, console: Console, title: str) -> None:
    console.rule(escape(title))
    console.print(Syntax(plan.text, "ini", word_wrap=True) if plan.text else "")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if plan.commands:
        console.print("Then:")
        for command in plan.commands:
            console.print("  " + escape(" ".join(command)))


def _run(plan: Plan, console: Console) -> int:
    for command in plan.commands:
        console.print(f"$ {escape(' '.join(command))}")
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            console.print(f"error: {' '.join(command)} exited {done.returncode}")
            return EXIT_FAILURE
    return EXIT_OK


def install(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False)
    config = Path(args.config).expanduser().resolve()
    settings = load_config(config)  # ConfigError: exit 2 with every issue (cli.main)
    plan = plan_install(args, settings, config)
    _show(
        plan,
        console,
        f"{plan.unit_path} (new)" if not plan.unit_path.exists() else str(plan.unit_path),
    )
    if not systemd_running(args):
        console.print("systemctl is not used (no systemd running here, or --no-systemctl)")
    if args.dry_run:
        console.print("dry run: nothing written")
        return EXIT_OK
    go = _confirm(args, console, f"Write {plan.unit_path} and run the commands above?")
    if go is None:
        return EXIT_USAGE
    if not go:
        console.print("nothing done")
        return EXIT_OK
    if not plan.unit_path.parent.is_dir():
        console.print(f"error: --unit-dir {plan.unit_path.parent} is not a folder")
        return EXIT_USAGE
    useradd = [c for c in plan.commands if c[0] == "useradd"]
    if useradd and _run(Plan(plan.unit_path, "", useradd), console) != EXIT_OK:
        return EXIT_FAILURE
    tmp = plan.unit_path.with_name(f".{plan.unit_path.name}.tmp")
    tmp.write_text(plan.text, encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, plan.unit_path)
    console.print(f"wrote {escape(str(plan.unit_path))}")
    rest = Plan(plan.unit_path, "", [c for c in plan.commands if c[0] != "useradd"])
    return _run(rest, console)


def uninstall(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False)
    unit = Path(args.unit_dir) / f"{args.name}.service"
    if not unit.exists():
        console.print(f"{unit} is not installed; nothing to do")
        return EXIT_OK
    plan = Plan(unit, "")
    if systemd_running(args):
        plan.commands = [["systemctl", "disable", "--now", unit.name]]
    after = [["systemctl", "daemon-reload"]] if systemd_running(args) else []
    console.print(f"Remove {escape(str(unit))} (the config, its secrets and the ledger stay).")
    _show(plan, console, f"uninstall {unit.name}")
    if args.dry_run:
        console.print("dry run: nothing removed")
        return EXIT_OK
    go = _confirm(args, console, f"Stop and remove {unit}?")
    if go is None:
        return EXIT_USAGE
    if not go:
        return EXIT_OK
    if _run(plan, console) != EXIT_OK:
        return EXIT_FAILURE
    unit.unlink()
    console.print(f"removed {escape(str(unit))}")
    return _run(Plan(unit, "", after), console)


def status(args: argparse.Namespace) -> int:
    unit = Path(args.unit_dir) / f"{args.name}.service"
    out = sys.stdout
    if not unit.exists():
        print(f"{unit.name}: not installed ({unit} does not exist)", file=out)
        return EXIT_OK
    exec_line = next(
        (x for x in unit.read_text(encoding="utf-8").splitlines() if x.startswith("ExecStart=")), ""
    )
    print(f"{unit.name}: installed at {unit}", file=out)
    print(f"  {exec_line}", file=out)
    if systemd_running(args):
        for verb in ("is-enabled", "is-active"):
            done = subprocess.run(
                ["systemctl", verb, unit.name], capture_output=True, text=True, check=False
            )
            print(f"  systemctl {verb}: {done.stdout.strip() or done.stderr.strip()}", file=out)
    else:
        print("  systemctl: not available here (no systemd running)", file=out)
    return EXIT_OK


def add_command(sub: Any) -> None:
    text = "install, remove or show the systemd service"
    p = sub.add_parser("service", help=text, description=__doc__)
    ssub = p.add_subparsers(dest="service_command", required=True, metavar="COMMAND")
    parsers = {
        "install": ssub.add_parser("install", help="write the unit and start it"),
        "uninstall": ssub.add_parser("uninstall", help="stop and remove the unit"),
        "status": ssub.add_parser("status", help="the unit installed or not, and running or not"),
    }
    for verb, q in parsers.items():
        q.set_defaults(func={"install": install, "uninstall": uninstall, "status": status}[verb])
        q.add_argument("--unit-dir", default="/etc/systemd/system", metavar="DIR")
        q.add_argument("--name", default="syncd", help="the unit's name (default syncd)")
        q.add_argument("--no-systemctl", action="store_true", help="never run systemctl")
        if verb != "status":
            q.add_argument("--dry-run", action="store_true", help="show; change nothing")
            q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parsers["install"].add_argument("--config", required=True, metavar="FILE")
    parsers["install"].add_argument("--user", default="syncd", help="the user it runs as (syncd)")
