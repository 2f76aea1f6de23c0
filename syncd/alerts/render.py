"""Alert mails as text: subjects and jinja2 bodies (plain text and HTML), in French and English."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from syncd.alerts.items import MailView
from syncd.alerts.mailer import header_text
from syncd.alerts.settings import AlertSettings

LANGUAGES = ("fr", "en")

# Per language: one label per document kind and the (singular, plural) of each item kind.
DOCUMENT_KINDS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "till_receipt": "ticket de caisse",
        "web_order": "commande web",
        "goods_receipt": "réception de marchandise",
        "stock_count": "inventaire",
        "manual": "correction manuelle",
    },
    "en": {
        "till_receipt": "till receipt",
        "web_order": "web order",
        "goods_receipt": "goods receipt",
        "stock_count": "stock count",
        "manual": "manual correction",
    },
}
COUNTED: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "fr": {
        "oversells": ("rupture", "ruptures"),
        "unknown": ("SKU inconnu", "SKU inconnus"),
        "unreadable": ("document illisible", "documents illisibles"),
        "drift": ("écart revenu", "écarts revenus"),
        "down": ("canal en panne", "canaux en panne"),
        "back": ("canal rétabli", "canaux rétablis"),
        "rejected": ("ligne rejetée", "lignes rejetées"),
        "hidden": ("autre", "autres"),
    },
    "en": {
        "oversells": ("oversell", "oversells"),
        "unknown": ("unknown SKU", "unknown SKUs"),
        "unreadable": ("unreadable document", "unreadable documents"),
        "drift": ("recurring drift", "recurring drifts"),
        "down": ("channel down", "channels down"),
        "back": ("channel back", "channels back"),
        "rejected": ("rejected row", "rejected rows"),
        "hidden": ("other", "others"),
    },
}
SUBJECTS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "oversell": "Rupture : le dernier article a été vendu deux fois — {sku}{name}",
        "alert": "Alerte stock : {summary}",
        "digest": "Récapitulatif du {day} : {count} conflit{s} ouvert{s}",
        "test": "Message de test : les alertes de syncd fonctionnent",
    },
    "en": {
        "oversell": "Oversold: the last unit was sold twice — {sku}{name}",
        "alert": "Stock alert: {summary}",
        "digest": "Daily digest {day}: {count} open conflict{s}",
        "test": "Test message: syncd alerts work",
    },
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("syncd.alerts", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def summary(view: MailView, lang: str) -> str:
    """What a mail holds, in a few words: "2 ruptures, 1 SKU inconnu"."""
    counts = {
        "oversells": len(view.oversells),
        "unknown": len(view.unknown),
        "unreadable": len(view.unreadable),
        "drift": len(view.drift),
        "down": len(view.down),
        "back": len(view.back),
        "rejected": sum(g.count for g in view.rejected),
        "hidden": view.hidden,
    }
    words = COUNTED[lang]
    return ", ".join(
        f"{n} {words[key][0] if n == 1 else words[key][1]}" for key, n in counts.items() if n
    )


def subject(view: MailView, lang: str, prefix: str) -> str:
    phrases = SUBJECTS[lang]
    if view.kind == "test":
        text = phrases["test"]
    elif view.kind == "digest":
        count = view.total
        text = phrases["digest"].format(
            day=view.generated[:10], count=count, s="s" if count > 1 else ""
        )
    elif len(view.oversells) == 1 and view.total == 1:
        o = view.oversells[0]
        text = phrases["oversell"].format(sku=o.sku, name=f" {o.name}" if o.name else "")
    else:
        text = phrases["alert"].format(summary=summary(view, lang))
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
    context: dict[str, Any] = {
        "view": view,
        "kinds": DOCUMENT_KINDS[lang],
        "summary": summary(view, lang),
        "config": config_file or "FILE",
        "status_url": settings.status_page_url,
        "recipients": ", ".join(settings.to),
        "server": f"{settings.smtp_host}:{settings.smtp_port}",
        **(extra or {}),
    }
    env = _environment()
    return Rendered(
        subject=subject(view, lang, settings.subject_prefix),
        text=env.get_template(f"mail.{lang}.txt.j2").render(context),
        html=env.get_template(f"mail.{lang}.html.j2").render(context),
    )
