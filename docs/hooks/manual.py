"""mkdocs hook: the manual's generated parts, so that they cannot drift from the code.

- the configuration reference: ``parse_config`` (syncd/config.py and every reader it calls:
  settings.py's TableReader, locationsettings.py, alerts, reconcile, each connector) is run on a
  probe config with TableReader's typed readers recorded (table, key, type, default, choices,
  range); the meanings come from ``catalog.toml`` (French and English);
- the commands: ``syncd.cli.build_parser()`` walked (usage, every option, default, choices);
- the till layouts: ``syncd.connectors.csv_till.presets.PRESETS`` and the samples of
  ``syncd.testing.tillsamples`` run through the real parser;
- the emulators' routes: ``syncd.cli.EMULATOR_EPILOG`` (what ``syncd emulator --help`` prints).

Any mismatch (a key or command read by the code and not described, a description of something
the code no longer reads) is logged as a warning: ``mkdocs build --strict`` fails on it, and
tests/test_manual.py checks the same without mkdocs.
"""

from __future__ import annotations

import argparse
import ast
import html
import logging
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Path(__file__).with_name("catalog.toml")
log = logging.getLogger("mkdocs.hooks.syncd_manual")

# TableReader's typed readers: each call reads one key of one table.
READERS = (
    "string",
    "integer",
    "number",
    "boolean",
    "string_list",
    "int_map",
    "string_map",
    "url",
    "address_list",
    "path",
    "secret",
    "table_of",
)
TYPES = {
    "en": {
        "string": "text",
        "integer": "whole number",
        "number": "number",
        "boolean": "true / false",
        "string_list": "list of texts",
        "int_map": "table: name = whole number",
        "string_map": "table: name = text",
        "url": "URL (http or https)",
        "address_list": "list of IP addresses or networks",
        "path": "path",
        "secret": "secret (a file holding it)",
    },
    "fr": {
        "string": "texte",
        "integer": "nombre entier",
        "number": "nombre",
        "boolean": "true / false",
        "string_list": "liste de textes",
        "int_map": "table : nom = nombre entier",
        "string_map": "table : nom = texte",
        "url": "URL (http ou https)",
        "address_list": "liste d'adresses IP ou de réseaux",
        "path": "chemin",
        "secret": "secret (un fichier qui le contient)",
    },
}
WORDS = {
    "en": {
        "key": "Key",
        "type": "Type",
        "default": "Default",
        "meaning": "Meaning",
        "required": "required",
        "none": "(none)",
        "one_of": "one of",
        "from": "from",
        "to": "to",
        "inline": "or `{key}` inline, for trying out only",
        "usage": "Usage",
        "option": "Option",
        "help": "Meaning",
        "column": "Role",
        "headers": "Column names it recognises",
        "refund": "Refund values (type column)",
        "cancel": "Cancelled values (status column)",
        "gives": "What syncd reads from this example",
        "doc": "Receipt",
        "lines": "Lines (SKU: units; negative = given back)",
        "rejected": "Rejected row",
        "colon": ":",
    },
    "fr": {
        "key": "Clé",
        "type": "Type",
        "default": "Par défaut",
        "meaning": "Rôle",
        "required": "obligatoire",
        "none": "(aucun)",
        "one_of": "au choix",
        "from": "de",
        "to": "à",
        "inline": "ou `{key}` écrit en clair, seulement pour un essai",
        "usage": "Syntaxe",
        "option": "Option",
        "help": "Rôle",
        "column": "Rôle",
        "headers": "Noms de colonnes reconnus",
        "refund": "Valeurs de remboursement (colonne type)",
        "cancel": "Valeurs d'annulation (colonne statut)",
        "gives": "Ce que syncd lit dans cet exemple",
        "doc": "Ticket",
        "lines": "Lignes (SKU : unités ; négatif = rendu)",
        "rejected": "Ligne refusée",
        "colon": " :",
    },
}
# The probe config's channels are named after their connector type; its one location is "*".
CONNECTORS = ("csv_till", "prestashop", "magento", "woocommerce", "shopify")


def catalog() -> dict[str, Any]:
    with CATALOG.open("rb") as f:
        return tomllib.load(f)


@dataclass
class Read:
    """One key the config reader reads: where, what type, its default and limits."""

    table: str
    key: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: Any = None
    maximum: Any = None
    names: tuple[str, ...] = field(default_factory=tuple)


def _table_name(prefix: str, key: str) -> str:
    from syncd.config import _COMMON_CHANNEL_KEYS

    if prefix.startswith("channels.") and key in _COMMON_CHANNEL_KEYS:
        return "channels.*"
    return prefix


def probe_reads(cat: dict[str, Any] | None = None) -> tuple[list[Read], list[Any]]:
    """Run the real config reader on a config holding every described key, recording each read.

    Returns the reads and the reader's issues ("is not a known setting" for a described key the
    reader no longer accepts). Values are dummies, except that a second pass gives secrets an
    inline value and URLs a valid one: some readers (Shopify's) read the rest only then.
    """
    cat = cat or catalog()
    reads, issues = _probe(cat, {})
    kinds = {(r.table, r.key): r.kind for r in reads}
    return _probe(cat, kinds)


def _probe_table(
    keys: dict[str, Any], table: str, kinds: dict[tuple[str, str], str]
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in keys:
        kind = kinds.get((table, key))
        if kind == "secret":
            body[key.removesuffix("_file")] = "1"
        elif kind == "url":
            body[key] = "https://probe.example.com"
        else:
            body[key] = "1"
    return body


def _probe(cat: dict[str, Any], kinds: dict[tuple[str, str], str]) -> tuple[list[Read], list[Any]]:
    from syncd.config import parse_config
    from syncd.exceptions import ConfigError
    from syncd.settings import TableReader

    data: dict[str, Any] = {}
    common = _probe_table(cat["keys"].get("channels.*", {}), "channels.*", kinds)
    for table, keys in cat["keys"].items():
        body = _probe_table(keys, table, kinds)
        if table == "channels.*":
            continue
        if table.startswith("channels."):
            kind = table.removeprefix("channels.")
            data.setdefault("channels", {})[kind] = {**common, **body, "type": kind}
        elif table.startswith("locations."):
            data.setdefault("locations", {})["*"] = body
        else:
            data[table] = body
    reads: list[Read] = []
    depth = [0]
    originals = {name: getattr(TableReader, name) for name in READERS}

    def recorder(kind: str, original: Any) -> Any:
        def read(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            try:
                return original(self, key, *args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0 and not (kind == "table_of" and self.prefix == ""):
                    default = args[0] if args else kwargs.get("default")
                    names = (f"{key}_file", key) if kind == "secret" else (key,)
                    reads.append(
                        Read(
                            table=_table_name(self.prefix, key),
                            key=names[0],
                            kind=kind,
                            default=default,
                            required=bool(kwargs.get("required")),
                            choices=tuple(kwargs.get("choices") or ()),
                            minimum=kwargs.get("minimum"),
                            maximum=kwargs.get("maximum"),
                            names=names,
                        )
                    )

        return read

    for name, original in originals.items():
        setattr(TableReader, name, recorder(name, original))
    issues: list[Any] = []
    try:
        parse_config(data, file="probe.toml")
    except ConfigError as err:
        issues = list(err.issues)
    finally:
        for name, original in originals.items():
            setattr(TableReader, name, original)
    unique: dict[tuple[str, str], Read] = {}
    for r in reads:
        unique.setdefault((r.table, r.key), r)
    return list(unique.values()), issues


def literal_keys() -> set[str]:
    """Every key a config reader module names as a literal (``r.integer("id_shop", …)``,
    ``table.get("decimal_comma")``): a key read only when present is found here even though the
    probe may not reach it."""
    keys: set[str] = set()
    for path in sorted((ROOT / "syncd").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "TableReader(" not in text or path.name == "settings.py" and path.parent.name == "syncd":
            continue
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            name = node.args[0].value
            if not isinstance(name, str):
                continue
            receiver = node.func.value
            if node.func.attr in READERS and node.func.attr != "table_of":
                keys.add(f"{name}_file" if node.func.attr == "secret" else name)
            elif (
                node.func.attr == "get"
                and isinstance(receiver, ast.Name)
                and receiver.id == "table"
            ):
                keys.add(name)
    return keys


def command_paths() -> dict[str, argparse.ArgumentParser]:
    """Every `syncd` command (``"conflicts list"``) → its parser, in the parser's order."""
    from syncd.cli import build_parser

    out: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        own = [
            a
            for a in parser._actions
            if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)
        ]
        if path and (own or not subs):
            out[" ".join(path)] = parser
        for action in subs:
            for name, sub in action.choices.items():
                walk(sub, [*path, name])

    walk(build_parser(), [])
    return out


def problems() -> list[str]:
    """Everything the manual's catalogue and the code disagree on; empty when in step."""
    cat = catalog()
    out: list[str] = []
    reads, issues = probe_reads(cat)
    described = {(t, k) for t, keys in cat["keys"].items() for k in keys}
    read = {(r.table, r.key) for r in reads}
    for table, key in sorted(read - described):
        out.append(
            f"config key [{table}] {key} is read by the config reader but not described in "
            f"docs/hooks/catalog.toml"
        )
    for table, key in sorted(described - read):
        out.append(
            f"docs/hooks/catalog.toml describes [{table}] {key}, which the config reader does "
            "not read"
        )
    for issue in issues:
        if issue.message == "is not a known setting":
            out.append(f"the config reader refuses {issue.key}, described in the catalogue")
    all_keys = {k for _, k in described}
    for key in sorted(literal_keys() - all_keys):
        out.append(
            f"config key {key!r} is named by a config reader but not described in "
            "docs/hooks/catalog.toml"
        )
    for table, keys in cat["keys"].items():
        for key, text in keys.items():
            for lang in ("en", "fr"):
                if not str(text.get(lang, "")).strip():
                    out.append(f"catalog.toml: [{table}] {key} has no {lang} meaning")
        if table not in cat["tables"]:
            out.append(f"catalog.toml: table [{table}] has no introduction")
    commands = command_paths()
    for name in commands:
        if name not in cat["commands"]:
            out.append(f"command `syncd {name}` is not described in docs/hooks/catalog.toml")
    used: set[str] = set()
    for name, parser in commands.items():
        for action in _options(parser):
            key = _option_key(action)
            used.update({key, f"{name} {key}"})
            for lang in ("en", "fr"):
                if not option_meaning(cat, name, action, lang):
                    out.append(f"`syncd {name} {key}` has no {lang} meaning in catalog.toml")
    for key in cat["options"]:
        if key not in used:
            out.append(f"catalog.toml describes the option {key!r}, which no command has")
    for name, text in cat["commands"].items():
        if name not in commands and not text.get("planned"):
            out.append(f"catalog.toml describes `syncd {name}`, which the CLI does not have")
    return out


# -- rendering -------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    if isinstance(value, float) and value.is_integer():
        return f"`{value:.1f}`"
    return f"`{value}`"


def _type_text(r: Read, lang: str) -> str:
    w = WORDS[lang]
    text = TYPES[lang][r.kind]
    if r.choices:
        text += f", {w['one_of']} " + ", ".join(f"`{c}`" for c in r.choices)
    if r.minimum is not None and r.maximum is not None:
        text += f", {w['from']} {r.minimum:g} {w['to']} {r.maximum:g}"
    elif r.minimum is not None:
        text += f", ≥ {r.minimum:g}"
    elif r.maximum is not None:
        text += f", ≤ {r.maximum:g}"
    return text


def _default_text(r: Read, lang: str) -> str:
    w = WORDS[lang]
    if r.required:
        return w["required"]
    if r.default in (None, "", (), []) and r.kind not in ("boolean",):
        return w["none"]
    return _value(r.default)


def render_config(lang: str) -> str:
    cat = catalog()
    reads, _ = probe_reads(cat)
    by_table: dict[str, list[Read]] = {}
    for r in reads:
        by_table.setdefault(r.table, []).append(r)
    w = WORDS[lang]
    out: list[str] = []
    for table, intro in cat["tables"].items():
        out.append(
            f"## {intro['title_' + lang]} {{#{table.replace('.', '-').replace('*', 'all')}}}"
        )
        out.append("")
        out.append(intro[lang].strip())
        out.append("")
        rows = by_table.get(table, [])
        if not rows:
            continue
        out.append(f"| {w['key']} | {w['type']} | {w['default']} | {w['meaning']} |")
        out.append("|---|---|---|---|")
        for r in rows:
            meaning = cat["keys"].get(table, {}).get(r.key, {}).get(lang, "")
            if r.kind == "secret":
                meaning += " (" + w["inline"].format(key=r.names[1]) + ")"
            out.append(
                f"| `{r.key}` | {_cell(_type_text(r, lang))} | {_cell(_default_text(r, lang))} "
                f"| {_cell(meaning.strip())} |"
            )
        out.append("")
    return "\n".join(out)


def _option_row(action: argparse.Action) -> tuple[str, str]:
    names = (
        ", ".join(f"`{n}`" for n in action.option_strings) or f"`{action.metavar or action.dest}`"
    )
    if action.choices:
        names += " (" + " \\| ".join(f"`{c}`" for c in action.choices) + ")"
    elif action.nargs != 0 and action.option_strings:
        names += f" `{action.metavar or action.dest.upper()}`"
    default = ""
    if action.required and action.option_strings:  # a positional's need shows in the usage
        default = "required"
    elif action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0:
        default = f"`{action.default}`"
    return names, default


def _option_key(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def option_meaning(cat: dict[str, Any], command: str, action: argparse.Action, lang: str) -> str:
    """What an option means: the catalogue's, for this command or for every command having it;
    in English, else the option's own --help text."""
    key = _option_key(action)
    entry = cat["options"].get(f"{command} {key}") or cat["options"].get(key) or {}
    text = entry.get(lang) or (action.help if lang == "en" else None) or ""
    return str(text)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


def render_commands(lang: str) -> str:
    cat = catalog()
    w = WORDS[lang]
    req = WORDS[lang]["required"]
    out: list[str] = []
    for name, parser in command_paths().items():
        text = cat["commands"][name]
        out.append(f"## syncd {name}")
        out.append("")
        out.append(text[lang].strip())
        out.append("")
        usage = " ".join(parser.format_usage().split())
        out.append("```")
        out.append(usage.removeprefix("usage: "))
        out.append("```")
        out.append("")
        actions = _options(parser)
        if actions:
            out.append(f"| {w['option']} | {w['default']} | {w['help']} |")
            out.append("|---|---|---|")
            for action in actions:
                names, default = _option_row(action)
                default = req if default == "required" else default
                meaning = option_meaning(cat, name, action, lang)
                out.append(f"| {names} | {default} | {_cell(meaning)} |")
            out.append("")
    for name, text in cat["commands"].items():
        if text.get("planned") and name not in command_paths():
            out.append(f"## syncd {name}")
            out.append("")
            out.append(text[lang].strip())
            out.append("")
    return "\n".join(out)


def render_presets(lang: str) -> str:
    from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
    from syncd.connectors.csv_till.presets import PRESETS
    from syncd.testing import tillsamples

    cat = catalog()
    w = WORDS[lang]
    out: list[str] = []
    for name, preset in PRESETS.items():
        text = cat["presets"][name]
        out.append(f"## `{name}`")
        out.append("")
        out.append(text[lang].strip())
        out.append("")
        out.append(f"| {w['column']} | {w['headers']} |")
        out.append("|---|---|")
        for role, headers in preset.columns.items():
            role_text = cat["roles"][role][lang]
            out.append(
                f"| `{role}`{w['colon']} {role_text} | "
                + ", ".join(f"`{h}`" for h in headers)
                + " |"
            )
        out.append("")
        if preset.refund_values:
            out.append(
                f"{w['refund']}{w['colon']} "
                + ", ".join(f"`{v}`" for v in sorted(preset.refund_values))
            )
            out.append("")
        if preset.cancelled_values:
            values = ", ".join(f"`{v}`" for v in sorted(preset.cancelled_values))
            out.append(f"{w['cancel']}{w['colon']} {values}")
            out.append("")
        raw: str | bytes = (
            getattr(tillsamples, text["sample"]) if "sample" in text else text["sample_text"]
        )
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        shown = data.decode("cp1252" if isinstance(raw, bytes) else "utf-8").replace("\r\n", "\n")
        out.append(f'```text title="{name}.csv"')
        out.append(shown.rstrip("\n"))
        out.append("```")
        out.append("")
        result = parse_bytes(data, f"{name}.csv", ParseOptions(timezone="Europe/Paris"))
        if result.preset != name:
            log.warning("the %s example is read as %s, not as %s", name, result.preset, name)
        out.append(f"{w['gives']}{w['colon']}")
        out.append("")
        out.append(f"| {w['doc']} | {w['lines']} |")
        out.append("|---|---|")
        for doc in result.documents:
            lines = ", ".join(f"`{sku}`{w['colon']} {qty}" for sku, qty in doc.lines.items())
            out.append(f"| `{doc.doc_id}` | {lines} |")
        for rej in result.rejections:
            out.append(
                f"| {w['rejected']} {rej.row} | `{rej.column}` = `{rej.value}`{w['colon']} "
                f"{_cell(rej.reason)} |"
            )
        out.append("")
    return "\n".join(out)


def render_emulator_help() -> str:
    from syncd.cli import EMULATOR_EPILOG

    return "```text\n" + EMULATOR_EPILOG.rstrip("\n") + "\n```\n"


MARKERS = {
    "config-reference": render_config,
    "commands": render_commands,
    "till-presets": render_presets,
}


def _language(src_uri: str) -> str:
    return "fr" if src_uri.startswith("fr/") or ".fr." in src_uri else "en"


def _code_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "syncd").rglob("*.py")))


def quoted_messages(markdown: str) -> Iterator[str]:
    """The error messages a troubleshooting page quotes: ``<!-- message: … -->`` lines."""
    yield from re.findall(r"<!-- message: (.+?) -->", markdown)


# -- mkdocs events ---------------------------------------------------------------------------

_checked = False


def on_pre_build(config: Any) -> None:
    global _checked
    for problem in problems():
        log.warning(problem)
    _checked = True


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    lang = _language(page.file.src_uri)
    for marker, render in MARKERS.items():
        tag = f"<!-- syncd:{marker} -->"
        if tag in markdown:
            markdown = markdown.replace(tag, render(lang))
    tag = "<!-- syncd:emulator-help -->"
    if tag in markdown:
        markdown = markdown.replace(tag, render_emulator_help())
    messages = list(quoted_messages(markdown))
    if messages:
        code = _code_text()
        for message in messages:
            if html.unescape(message) not in code:
                log.warning(
                    "%s quotes the message %r, which is no longer in syncd/",
                    page.file.src_uri,
                    message,
                )
    return markdown
