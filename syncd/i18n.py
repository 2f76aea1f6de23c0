"""One French and English catalogue (gettext, syncd/locale) for the status page and the alert mails."""

from __future__ import annotations

import gettext as _gettext
import locale
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
DOMAIN = "syncd"
LOCALE_DIR = Path(__file__).parent / "locale"

_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "fr": (
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ),
}


def N_(message: str) -> str:
    """Marks a message for `pybabel extract` where it is translated later (tables of labels)."""
    return message


@cache
def translations(lang: str) -> _gettext.GNUTranslations:
    """The compiled catalogue of one language; a missing .mo file is an error, not English."""
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for language {lang!r}: choose one of {LANGUAGES}")
    found = _gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])
    assert isinstance(found, _gettext.GNUTranslations)
    return found


# -- language choice ------------------------------------------------------------------------------


def choose_language(setting: str, accept_language: str | None, chosen: str | None = None) -> str:
    """The page's language: the merchant's own choice (cookie), else the config, else the browser."""
    if chosen in LANGUAGES:
        return chosen
    if setting in LANGUAGES:
        return setting
    for tag, _quality in _accepted(accept_language or ""):
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def _accepted(header: str) -> list[tuple[str, float]]:
    """Accept-Language entries, best first (RFC 9110 §12.5.4)."""
    out: list[tuple[str, float]] = []
    for part in header.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            out.append((tag.strip(), quality))
    out.sort(key=lambda item: -item[1])
    return out


def resolve_language(setting: str, environ: Mapping[str, str] | None = None) -> str:
    """The mails' language: ``fr`` or ``en`` as set, or for "auto" the system locale (fr* → fr)."""
    if setting in ("fr", "en"):
        return setting
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(name, "")
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return "fr" if value.lower().startswith("fr") else "en"
    if environ is None:
        current = locale.getlocale(locale.LC_MESSAGES)[0] or ""
        return "fr" if current.lower().startswith("fr") else "en"
    return "en"


# -- the translator -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Translator:
    """Messages, dates and durations in one language and the merchant's time zone.

    Messages use ``%(name)s`` fields and are always %-formatted, like jinja2's "newstyle" gettext,
    so a literal percent sign is written ``%%`` in every msgid, in Python and in templates alike.
    """

    lang: str
    zone: tzinfo = UTC

    def gettext(self, message: str, **fields: Any) -> str:
        return translations(self.lang).gettext(message) % fields

    def ngettext(self, singular: str, plural: str, num: int, **fields: Any) -> str:
        """The form for ``num`` (French: 0 and 1 are singular), with ``%(num)d`` filled in."""
        fields.setdefault("num", num)
        return translations(self.lang).ngettext(singular, plural, num) % fields

    def pgettext(self, context: str, message: str, **fields: Any) -> str:
        return translations(self.lang).pgettext(context, message) % fields

    def duration(self, seconds: float) -> str:
        """12 minutes, 3 hours: rounded down to the largest unit a merchant reads."""
        value = max(0, int(seconds))
        if value < 90:
            return self.ngettext("%(num)d second", "%(num)d seconds", value)
        if value < 90 * 60:
            return self.ngettext("%(num)d minute", "%(num)d minutes", value // 60)
        if value < 36 * 3600:
            return self.ngettext("%(num)d hour", "%(num)d hours", value // 3600)
        return self.ngettext("%(num)d day", "%(num)d days", value // 86400)

    def time(self, when: datetime | None, *, seconds: bool = False) -> str:
        if when is None:
            return self.gettext("never")
        local = when.astimezone(self.zone)
        return local.strftime("%H:%M:%S" if seconds else "%H:%M")

    def when(self, when: datetime | None, now: datetime | None = None) -> str:
        """Today's times as "10:02:03", other days with their date, in the merchant's zone."""
        if when is None:
            return self.gettext("never")
        local = when.astimezone(self.zone)
        if now is not None and now.astimezone(self.zone).date() == local.date():
            return local.strftime("%H:%M:%S")
        month = _MONTHS[self.lang][local.month - 1]
        if self.lang == "fr":
            return f"{local.day} {month} {local.year} {local:%H:%M}"
        return f"{local.day} {month} {local.year}, {local:%H:%M}"

    def seconds(self, value: float | None) -> str:
        if value is None:
            return "—"
        if value == 0:
            text = "0"
        elif value < 1:
            text = f"{value:.2g}"  # two significant digits: 0.25, 0.0036
        else:
            text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
        if self.lang == "fr":
            text = text.replace(".", ",")
        return self.gettext("%(value)s s", value=text)


def environment(lang: str, loader: jinja2.BaseLoader, **options: Any) -> jinja2.Environment:
    """A jinja2 environment whose templates say ``_()``, ``ngettext()`` and ``pgettext()`` in ``lang``.

    One environment per language, so that a template renders in the language of its environment:
    the page keeps one per language and picks the visitor's, the mails pick the configured one.
    """
    env = jinja2.Environment(loader=loader, extensions=["jinja2.ext.i18n"], **options)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env
