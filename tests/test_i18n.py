"""The one message catalogue: extracted from the code, complete in French and English, compiled,
with real plural forms, the same words on the page and in the mails, and low in the layers."""

from __future__ import annotations

import gettext
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from syncd.alerts.items import MailView, RejectedGroup
from syncd.alerts.render import render, summary
from syncd.alerts.settings import AlertSettings
from syncd.i18n import LANGUAGES, LOCALE_DIR, Translator, translations
from syncd.web.data import KIND_LABELS

ROOT = Path(__file__).resolve().parents[1]
Key = tuple[str | None, str, str | None]  # context, msgid, plural msgid


def catalogue(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "syncd.po").open("rb") as po:
        return read_po(po, locale=lang)


def key(context: str | None, msgid: str | tuple[str, ...]) -> Key:
    if isinstance(msgid, tuple):
        return (context, msgid[0], msgid[1])
    return (context, msgid, None)


def extracted() -> set[Key]:
    """What `pybabel extract -F babel.cfg` finds in syncd/ (.py, .html and .j2 files)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    found: set[Key] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.add(key(context, message))
    return found


def test_the_catalogue_holds_exactly_the_messages_the_code_uses() -> None:
    used = extracted()
    assert len(used) > 200  # the extraction did find the page, the mails and the Python code
    for lang in LANGUAGES:
        held = {key(m.context, m.id) for m in catalogue(lang) if m.id}
        assert used - held == set(), f"{lang}: missing; run the pybabel commands in babel.cfg"
        assert held - used == set(), f"{lang}: no longer used; run pybabel update"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_with_the_same_fields_and_no_plural_brackets(
    lang: str,
) -> None:
    cat = catalogue(lang)
    assert cat.num_plurals == 2
    for message in cat:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        assert all(forms) and len(forms) == len(ids), (lang, message.id)
        assert not any("(s)" in text for text in (*ids, *forms)), (lang, message.id)
        assert "fuzzy" not in message.flags, (lang, message.id)
    assert [problem for _m, problems in cat.check() for problem in problems] == []  # %(fields)s


def test_french_treats_zero_and_one_as_singular() -> None:
    assert "plural=(n > 1)" in catalogue("fr").plural_forms
    fr, en = Translator("fr"), Translator("en")
    unit = ("%(num)d unit", "%(num)d units")
    assert [fr.ngettext(*unit, n) for n in (0, 1, 2)] == ["0 unité", "1 unité", "2 unités"]
    assert [en.ngettext(*unit, n) for n in (0, 1, 2)] == ["0 units", "1 unit", "2 units"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_committed_mo_files_are_the_compiled_po_files(lang: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(lang))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    committed = translations(lang)
    assert committed._catalog == fresh._catalog, "run: pybabel compile -d syncd/locale -D syncd"  # type: ignore[attr-defined]
    assert committed.plural(0) == fresh.plural(0) and committed.plural(2) == fresh.plural(2)  # type: ignore[attr-defined]


# The status page's conflict kind and the mails' counts and headings name a thing the same way.
SAME_WORDS = [
    (
        "oversell",
        "%(num)d oversell",
        "Oversold: the last unit was sold twice",
        r"overs(old|ell)",
        "survente",
    ),
    (
        "unknown_sku",
        "%(num)d unknown product",
        "Unknown products: their sales are kept waiting",
        "unknown product",
        "produits? inconnus?",
    ),
    (
        "unreadable",
        "%(num)d unreadable document",
        "Unreadable documents or files",
        "unreadable document",
        "documents?( ou fichiers)? illisibles?",
    ),
    (
        "drift_again",
        "%(num)d stock wrong again",
        "Stock wrong again on a channel after a fix",
        "stock wrong again",
        "stocks? de nouveau faux",
    ),
    (
        "channel_down",
        "%(num)d channel down",
        "Channels down",
        "channels? down",
        "(canal|canaux) injoignables?",
    ),
]


@pytest.mark.parametrize(("kind", "counted", "heading", "english", "french"), SAME_WORDS)
def test_the_page_and_the_mails_use_the_same_words(
    kind: str, counted: str, heading: str, english: str, french: str
) -> None:
    for lang, pattern in (("en", english), ("fr", french)):
        t = Translator(lang)
        words = [t.gettext(KIND_LABELS[kind]), t.ngettext(counted, counted, 1), t.gettext(heading)]
        assert all(re.search(pattern, w, re.I) for w in words), (lang, words)


def test_mails_count_in_words_in_both_languages() -> None:
    row = {"row": 9, "column": "Quantity", "value": "abc", "reason": "not a whole number"}
    for lang, one_hidden, one_row in (
        ("fr", "… et 1 autre alerte", "1 ligne rejetée"),
        ("en", "… and 1 more alert:", "1 rejected row"),
    ):
        view = MailView("alert", "2026-03-14 10:06:00", hidden=1)
        view.rejected.append(RejectedGroup("till", "s.csv", 1, (row,)))
        mail = render(view, AlertSettings(language=lang, to=("a@example.org",)))
        for body in (mail.text, mail.html):
            assert "(s)" not in body and one_hidden in body and one_row in body, lang
        assert one_row in mail.subject and one_row in summary(view, lang)


def test_a_contact_line_with_a_link_ends_its_line() -> None:
    """The old French and English text mails ran the next step onto the order's link."""
    from syncd.alerts.items import DocumentView, OversellView

    order = DocumentView("webshop", "web_order", "XKB1", 1, "10:03", "https://shop/o/1", True)
    view = MailView("alert", "2026-03-14 10:06:00")
    view.oversells.append(OversellView(7, "SHIRT", "", 1, -1, (order,), (order,)))
    for lang in LANGUAGES:
        text = render(view, AlertSettings(language=lang)).text
        link_line = next(
            line for line in text.splitlines() if "https://shop/o/1" in line and "XKB1" in line
        )
        assert link_line.endswith("https://shop/o/1"), link_line


def test_the_catalogue_module_sits_low_in_the_layers() -> None:
    code = (
        "import sys, syncd.i18n; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp' "
        "or m.startswith(('syncd.web', 'syncd.alerts', 'syncd.engine', 'syncd.ledger'))); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
