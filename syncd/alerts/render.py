"""Alert mails as text: subjects and jinja2 bodies (plain text and HTML) from the shared catalogue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from syncd.alerts.items import MailView
from syncd.alerts.mailer import header_text
from syncd.alerts.settings import AlertSettings
from syncd.i18n import N_, Translator, environment

# One label per document kind; the status page says the same words for the movements they make.
DOCUMENT_KINDS: Mapping[str, str] = {
    "till_receipt": N_("till receipt"),
    "web_order": N_("web order"),
    "goods_receipt": N_("goods receipt"),
    "stock_count": N_("stock count"),
    "manual": N_("manual correction"),
}
# What a mail holds, counted, with the same words as the status page's conflict kinds.
COUNTED: Mapping[str, Callable[[Translator, int], str]] = {
    "oversells": lambda t, n: t.ngettext("%(num)d oversell", "%(num)d oversells", n),
    "unknown": lambda t, n: t.ngettext("%(num)d unknown product", "%(num)d unknown products", n),
    "unreadable": lambda t, n: t.ngettext(
        "%(num)d unreadable document", "%(num)d unreadable documents", n
    ),
    "drift": lambda t, n: t.ngettext("%(num)d stock wrong again", "%(num)d stocks wrong again", n),
    "down": lambda t, n: t.ngettext("%(num)d channel down", "%(num)d channels down", n),
    "back": lambda t, n: t.ngettext("%(num)d channel back", "%(num)d channels back", n),
    "rejected": lambda t, n: t.ngettext("%(num)d rejected row", "%(num)d rejected rows", n),
    "hidden": lambda t, n: t.ngettext("%(num)d other", "%(num)d others", n),
    "reorder": lambda t, n: t.ngettext(
        "%(num)d product to reorder", "%(num)d products to reorder", n
    ),
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environment(lang: str) -> jinja2.Environment:
    return environment(
        lang,
        jinja2.PackageLoader("syncd.alerts", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def number(value: float | None, lang: str) -> str:
    """2, 0.36, or in French 0,36; "—" for none."""
    if value is None:
        return "—"
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "fr" else text


def summary(view: MailView, lang: str) -> str:
    """What a mail holds, in a few words: "2 oversells, 1 unknown product"."""
    counts = {
        "oversells": len(view.oversells),
        "unknown": len(view.unknown),
        "unreadable": len(view.unreadable),
        "drift": len(view.drift),
        "down": len(view.down),
        "back": len(view.back),
        "rejected": sum(g.count for g in view.rejected),
        "hidden": view.hidden,
        "reorder": len(view.reorder) + view.reorder_hidden,
    }
    t = Translator(lang)
    return ", ".join(COUNTED[key](t, n) for key, n in counts.items() if n)


def subject(view: MailView, lang: str, prefix: str) -> str:
    t = Translator(lang)
    if view.kind == "test":
        text = t.gettext("Test message: syncd alerts work")
    elif view.kind == "digest" and view.reorder:
        text = t.gettext(
            "Daily digest %(day)s: %(summary)s",
            day=view.generated[:10],
            summary=summary(view, lang),
        )
    elif view.kind == "digest":
        text = t.ngettext(
            "Daily digest %(day)s: %(num)d open conflict",
            "Daily digest %(day)s: %(num)d open conflicts",
            view.total,
            day=view.generated[:10],
        )
    elif len(view.oversells) == 1 and view.total == 1:
        o = view.oversells[0]
        text = t.gettext(
            "Oversold: the last unit was sold twice — %(sku)s%(name)s",
            sku=o.sku,
            name=f" {o.name}" if o.name else "",
        )
    else:
        text = t.gettext("Stock alert: %(summary)s", summary=summary(view, lang))
    return header_text(f"{prefix} {text}")  # a product name may hold CR/LF


def render(
    view: MailView,
    settings: AlertSettings,
    *,
    config_file: str = "",
    extra: Mapping[str, Any] | None = None,
) -> Rendered:
    """The subject and both bodies of one mail, in the configured language."""
    lang = settings.lang
    t = Translator(lang)
    context: dict[str, Any] = {
        "view": view,
        "lang": lang,
        "kinds": {kind: t.gettext(label) for kind, label in DOCUMENT_KINDS.items()},
        "summary": summary(view, lang),
        "config": config_file or "FILE",
        "status_url": settings.status_page_url,
        "recipients": ", ".join(settings.to),
        "server": f"{settings.smtp_host}:{settings.smtp_port}",
        "number": lambda value: number(value, lang),
        **(extra or {}),
    }
    env = _environment(lang)
    return Rendered(
        subject=subject(view, lang, settings.subject_prefix),
        text=env.get_template("mail.txt.j2").render(context),
        html=env.get_template("mail.html.j2").render(context),
    )
