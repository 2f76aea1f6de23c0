"""The manual (docs/, issue 21): its generated configuration reference lists every key the config
reader reads, its command list every command, and both languages have the same pages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manual() -> ModuleType:
    spec = importlib.util.spec_from_file_location("syncd_manual", ROOT / "docs/hooks/manual.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["syncd_manual"] = module
    spec.loader.exec_module(module)
    return module


def test_catalogue_and_code_agree(manual: ModuleType) -> None:
    assert manual.problems() == []


def test_reference_lists_every_key_the_reader_reads(manual: ModuleType) -> None:
    reads, _ = manual.probe_reads()
    assert len(reads) > 140  # every table, every connector
    for lang in ("en", "fr"):
        text = manual.render_config(lang)
        for read in reads:
            section = text.split(f"{{#{read.table.replace('.', '-').replace('*', 'all')}}}")[1]
            section = section.split("\n## ")[0]
            assert f"| `{read.key}` |" in section, (lang, read.table, read.key)


def test_a_key_added_to_the_reader_is_caught(
    manual: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mutation check, built in: a reader that reads one more key makes the build fail."""
    import syncd.alerts.settings as alerts

    original = alerts.parse_alerts

    def parse_alerts(table, **kwargs):  # type: ignore[no-untyped-def]
        from syncd.settings import TableReader

        TableReader(table, file="x", prefix="alerts", issues=[]).integer("bcc_limit", 3)
        return original(table, **kwargs)

    monkeypatch.setattr("syncd.config.parse_alerts", parse_alerts)
    assert any("[alerts] bcc_limit" in p for p in manual.problems())


def test_commands_page_has_every_command(manual: ModuleType) -> None:
    commands = manual.command_paths()
    assert {"run", "till parse", "conflicts ack", "test-alert", "emulator"} <= set(commands)
    for lang in ("en", "fr"):
        text = manual.render_commands(lang)
        for name, parser in commands.items():
            assert f"## syncd {name}\n" in text
            for action in parser._actions:
                for option in action.option_strings:
                    if option not in ("-h", "--help"):
                        assert f"`{option}`" in text


def test_both_languages_have_the_same_pages_and_translate_them() -> None:
    en = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs/en").glob("*.md")}
    fr = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs/fr").glob("*.md")}
    assert set(en) == set(fr)
    assert len(en) >= 14
    for name in en:
        assert en[name] != fr[name], f"docs/fr/{name} is the English text"


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:")[1]
    for page in (ROOT / "docs/en").glob("*.md"):
        assert f": {page.name}" in nav, page.name


def test_troubleshooting_quotes_only_messages_the_code_prints(manual: ModuleType) -> None:
    code = manual._code_text()
    for lang in ("en", "fr"):
        page = (ROOT / "docs" / lang / "troubleshooting.md").read_text(encoding="utf-8")
        messages = list(manual.quoted_messages(page))
        assert len(messages) >= 15
        for message in messages:
            assert message in code, (lang, message)


def test_till_layout_examples_are_read_as_their_layout(manual: ModuleType) -> None:
    from syncd.connectors.csv_till.presets import PRESETS

    text = manual.render_presets("en")
    for name in PRESETS:
        assert f'title="{name}.csv"' in text  # every layout has its example
    assert "`SHIRT-0000-44`: 1, `CAP-1`: 2" in text  # generic_fr's first receipt, as parsed
