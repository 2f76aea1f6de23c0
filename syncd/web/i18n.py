"""French and English for the status page: the catalogue, the language choice, dates and durations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"

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

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "app_title": "syncd — stock status",
        "skip_to_content": "Skip to content",
        "nav_overview": "Overview",
        "nav_conflicts": "Conflicts",
        "nav_activity": "Activity",
        "nav_skus": "Products",
        "nav_unknown": "Unknown products",
        "nav_language": "Language",
        "logout": "Log out",
        "live_connected": "Live",
        "live_connecting": "Connecting…",
        "live_lost": "Live updates paused, reconnecting…",
        # headline
        "headline_ok": "Everything is in sync.",
        "headline_catching_up": "Everything is on its way: {count} update(s) are being sent to {channels}.",
        "headline_starting": "syncd is starting: the channels are being checked.",
        "headline_refused": "The {channel} connection is refused: {reason}",
        "headline_stale": "The {channel} has not been updated for {duration}: {reason}",
        "headline_stale_no_reason": "The {channel} has not been updated for {duration}.",
        "headline_down": "The {channel} cannot be reached: {reason}",
        "headline_loop": "A part of syncd crashed and is being restarted ({loop}).",
        "headline_more": "And {count} other problem(s) below.",
        "headline_oversell": "{count} product(s) were sold more times than there was stock: see Conflicts.",
        # states
        "state_in_sync": "In sync",
        "state_catching_up": "Catching up",
        "state_degraded": "Degraded",
        "state_down": "Down",
        "state_refused": "Refused",
        "state_starting": "Starting",
        "state_stopped": "Stopped",
        "state_unknown": "Unknown",
        # cards
        "channels_title": "Channels",
        "card_lag": "Waiting",
        "card_lag_none": "nothing",
        "card_outbox": "To send",
        "card_last_pull": "Last read",
        "card_last_push": "Last sent",
        "card_last_error": "Last problem",
        "card_error_details": "Technical details",
        "card_threshold": "alert after {duration}",
        "never": "never",
        "none": "none",
        "pull_only": "read only",
        # figures
        "figures_title": "Speed and risk",
        "latency_title": "Time to update the other channels",
        "latency_median": "typical",
        "latency_p99": "99 % under {value}",
        "latency_samples": "{count} update(s) in the last hour",
        "latency_none": "no update measured in the last hour",
        "exposure_title": "Oversell exposure",
        "exposure_help": "Units still shown on a channel but already sold elsewhere.",
        "exposure_units": "{count} unit(s)",
        "open_conflicts": "Open conflicts",
        "unknown_count": "Unknown products",
        "alerts_title": "Alert emails",
        "alerts_state": "State",
        "alerts_last_sent": "Last sent",
        "alerts_pending": "waiting",
        "alerts_state_ok": "working",
        "alerts_state_failing": "failing",
        "alerts_state_disabled": "off",
        # charts
        "charts_title": "Pictures",
        "chart_latency": "Time for a sale to reach each channel (median per minute)",
        "chart_lag": "How long updates waited per channel",
        "chart_sales": "Units sold per channel per hour",
        "chart_empty": "Nothing recorded yet.",
        "chart_since": "since {time}",
        "chart_last_day": "last 24 hours",
        "chart_summary_line": "{label}: latest {last}, highest {high}",
        "chart_summary_bars": "{label}: {total} unit(s)",
        "seconds_short": "{value} s",
        # conflicts
        "conflicts_title": "Conflicts",
        "conflicts_open_first": "Open conflicts come first. Acknowledge one when you have seen it, resolve it once it is fixed.",
        "conflicts_none": "No conflict. Nothing to do.",
        "conflict_kind_oversell": "Sold more than the stock",
        "conflict_kind_unknown_sku": "Unknown product",
        "conflict_kind_unreadable": "Unreadable document",
        "conflict_kind_drift_again": "A channel shows a wrong figure again",
        "conflict_kind_channel_down": "A channel is unreachable",
        "conflict_status_open": "Open",
        "conflict_status_acknowledged": "Acknowledged",
        "conflict_status_resolved": "Resolved",
        "conflict_shortfall": "Missing units: {count}",
        "conflict_documents": "Documents involved, in order",
        "conflict_since": "Since {time}",
        "conflict_todo": "What to do:",
        "todo_oversell": "Check the shelf for {sku}. If the item is really missing, contact the web customer of the last order listed (offer a delay, a replacement or a refund), then count the stock.",
        "todo_unknown_sku": "Map this identifier to a product in the configuration ([aliases]); the sales kept aside are then applied.",
        "todo_unreadable": "Open the file or order named below and fix it; it is read again afterwards.",
        "todo_drift_again": "Someone or something keeps changing this figure in the channel: check its imports and manual edits.",
        "todo_channel_down": "Check that the channel is online and that its address and key in the configuration are right.",
        "acknowledge": "Acknowledge",
        "resolve": "Resolve",
        "reopen": "Reopen",
        "conflict_updated": "Conflict {id}: {status}.",
        "conflict_not_found": "Conflict {id} does not exist.",
        "doc_open": "open",
        # activity
        "activity_title": "Activity",
        "activity_latest": "Latest movements",
        "activity_filter": "Filter",
        "activity_all_channels": "All channels",
        "activity_none": "No movement yet.",
        "col_time": "Time",
        "col_channel": "Channel",
        "col_sku": "Product",
        "col_change": "Change",
        "col_reason": "Why",
        "col_document": "Document",
        "reason_till_sale": "Till sale",
        "reason_till_refund": "Till refund",
        "reason_web_order": "Web order",
        "reason_web_cancel": "Web order cancelled",
        "reason_web_refund": "Web refund",
        "reason_receipt": "Goods received",
        "reason_count_adjustment": "Stock count",
        "reason_manual": "Manual change",
        "channel_label": "Channel",
        "sku_label": "Product code (SKU)",
        "apply": "Show",
        "see_all": "See all",
        # skus
        "skus_title": "Products",
        "sku_search": "Search a product by code or name",
        "search": "Search",
        "sku_results": "{count} product(s) found",
        "sku_no_result": "No product matches “{query}”.",
        "sku_on_hand": "In stock (ledger)",
        "sku_buffer": "Kept back",
        "sku_wanted": "Should show",
        "sku_shown": "Shows now",
        "sku_source_pushed": "sent by syncd",
        "sku_source_read": "read from the channel",
        "sku_source_document": "after its own sale",
        "sku_queued": "Update waiting",
        "sku_recent": "Recent movements",
        "sku_not_found": "No product with the code “{sku}”.",
        "sku_name": "Name",
        # unknown
        "unknown_title": "Unknown products and rejected rows",
        "unknown_help": "Sales kept aside because their product code is not known yet. Add the code to [aliases] in the configuration: they are applied as soon as syncd knows it.",
        "unknown_none": "Every product code is known.",
        "col_identifier": "Code received",
        "col_documents": "Documents",
        "col_quantity": "Units",
        "rejected_title": "Rejected till rows",
        "rejected_none": "No rejected row.",
        "col_file": "File",
        "col_row": "Row",
        "col_column": "Column",
        "col_value": "Value",
        "col_problem": "Problem",
        # login
        "login_title": "Log in",
        "login_password": "Password",
        "login_submit": "Log in",
        "login_wrong": "Wrong password.",
        "login_busy": "Too many attempts from this address: wait a minute, then try again.",
        "login_help": "This page is protected because syncd listens beyond this computer.",
        # errors in plain words
        "error_auth": "the channel refused our key or password (check it in the configuration)",
        "error_timeout": "the channel took too long to answer",
        "error_unreachable": "the channel could not be reached (is it online?)",
        "error_rate": "the channel asked us to slow down",
        "error_server": "the channel had an internal error",
        "error_not_found": "the channel does not know an address or product we asked for",
        "error_config": "a setting of this channel is wrong",
        "error_other": "{detail}",
        "csrf_refused": "This form expired or came from another site: reload the page and try again.",
        "duration_seconds": "{n} second(s)",
        "duration_minutes": "{n} minute(s)",
        "duration_hours": "{n} hour(s)",
        "duration_days": "{n} day(s)",
        "ago": "{duration} ago",
    },
    "fr": {
        "app_title": "syncd — état du stock",
        "skip_to_content": "Aller au contenu",
        "nav_overview": "Vue d’ensemble",
        "nav_conflicts": "Conflits",
        "nav_activity": "Activité",
        "nav_skus": "Produits",
        "nav_unknown": "Produits inconnus",
        "nav_language": "Langue",
        "logout": "Se déconnecter",
        "live_connected": "En direct",
        "live_connecting": "Connexion…",
        "live_lost": "Mises à jour en pause, reconnexion…",
        "headline_ok": "Tout est synchronisé.",
        "headline_catching_up": "Tout est en route : {count} mise(s) à jour en cours d’envoi vers {channels}.",
        "headline_starting": "syncd démarre : les canaux sont en cours de vérification.",
        "headline_refused": "La connexion à {channel} est refusée : {reason}",
        "headline_stale": "{channel} n’a pas été mis à jour depuis {duration} : {reason}",
        "headline_stale_no_reason": "{channel} n’a pas été mis à jour depuis {duration}.",
        "headline_down": "{channel} est injoignable : {reason}",
        "headline_loop": "Une partie de syncd s’est arrêtée et redémarre ({loop}).",
        "headline_more": "Et {count} autre(s) problème(s) ci-dessous.",
        "headline_oversell": "{count} produit(s) ont été vendus plus de fois que le stock : voir Conflits.",
        "state_in_sync": "Synchronisé",
        "state_catching_up": "En rattrapage",
        "state_degraded": "Dégradé",
        "state_down": "Injoignable",
        "state_refused": "Refusé",
        "state_starting": "Démarrage",
        "state_stopped": "Arrêté",
        "state_unknown": "Inconnu",
        "channels_title": "Canaux",
        "card_lag": "En attente",
        "card_lag_none": "rien",
        "card_outbox": "À envoyer",
        "card_last_pull": "Dernière lecture",
        "card_last_push": "Dernier envoi",
        "card_last_error": "Dernier problème",
        "card_error_details": "Détails techniques",
        "card_threshold": "alerte après {duration}",
        "never": "jamais",
        "none": "aucun",
        "pull_only": "lecture seule",
        "figures_title": "Rapidité et risque",
        "latency_title": "Temps de mise à jour des autres canaux",
        "latency_median": "habituel",
        "latency_p99": "99 % en moins de {value}",
        "latency_samples": "{count} mise(s) à jour dans la dernière heure",
        "latency_none": "aucune mise à jour mesurée dans la dernière heure",
        "exposure_title": "Risque de survente",
        "exposure_help": "Unités encore affichées sur un canal mais déjà vendues ailleurs.",
        "exposure_units": "{count} unité(s)",
        "open_conflicts": "Conflits ouverts",
        "unknown_count": "Produits inconnus",
        "alerts_title": "E-mails d’alerte",
        "alerts_state": "État",
        "alerts_last_sent": "Dernier envoi",
        "alerts_pending": "en attente",
        "alerts_state_ok": "en service",
        "alerts_state_failing": "en échec",
        "alerts_state_disabled": "désactivés",
        "charts_title": "En images",
        "chart_latency": "Temps pour qu’une vente arrive sur chaque canal (médiane par minute)",
        "chart_lag": "Temps d’attente des mises à jour par canal",
        "chart_sales": "Unités vendues par canal et par heure",
        "chart_empty": "Rien d’enregistré pour l’instant.",
        "chart_since": "depuis {time}",
        "chart_last_day": "dernières 24 heures",
        "chart_summary_line": "{label} : dernier {last}, maximum {high}",
        "chart_summary_bars": "{label} : {total} unité(s)",
        "seconds_short": "{value} s",
        "conflicts_title": "Conflits",
        "conflicts_open_first": "Les conflits ouverts d’abord. Marquez-en un comme vu quand vous l’avez lu, résolu une fois réglé.",
        "conflicts_none": "Aucun conflit. Rien à faire.",
        "conflict_kind_oversell": "Vendu au-delà du stock",
        "conflict_kind_unknown_sku": "Produit inconnu",
        "conflict_kind_unreadable": "Document illisible",
        "conflict_kind_drift_again": "Un canal affiche de nouveau un chiffre faux",
        "conflict_kind_channel_down": "Un canal est injoignable",
        "conflict_status_open": "Ouvert",
        "conflict_status_acknowledged": "Vu",
        "conflict_status_resolved": "Résolu",
        "conflict_shortfall": "Unités manquantes : {count}",
        "conflict_documents": "Documents concernés, dans l’ordre",
        "conflict_since": "Depuis {time}",
        "conflict_todo": "Que faire :",
        "todo_oversell": "Vérifiez le rayon pour {sku}. S’il manque vraiment, contactez le client de la dernière commande web listée (délai, remplacement ou remboursement), puis comptez le stock.",
        "todo_unknown_sku": "Associez ce code à un produit dans la configuration ([aliases]) ; les ventes mises de côté sont alors appliquées.",
        "todo_unreadable": "Ouvrez le fichier ou la commande ci-dessous et corrigez-le ; il sera relu ensuite.",
        "todo_drift_again": "Quelqu’un ou quelque chose modifie encore ce chiffre dans le canal : vérifiez ses imports et les modifications manuelles.",
        "todo_channel_down": "Vérifiez que le canal est en ligne et que son adresse et sa clé sont justes dans la configuration.",
        "acknowledge": "Marquer comme vu",
        "resolve": "Résolu",
        "reopen": "Rouvrir",
        "conflict_updated": "Conflit {id} : {status}.",
        "conflict_not_found": "Le conflit {id} n’existe pas.",
        "doc_open": "ouvrir",
        "activity_title": "Activité",
        "activity_latest": "Derniers mouvements",
        "activity_filter": "Filtrer",
        "activity_all_channels": "Tous les canaux",
        "activity_none": "Aucun mouvement pour l’instant.",
        "col_time": "Heure",
        "col_channel": "Canal",
        "col_sku": "Produit",
        "col_change": "Variation",
        "col_reason": "Motif",
        "col_document": "Document",
        "reason_till_sale": "Vente en caisse",
        "reason_till_refund": "Remboursement en caisse",
        "reason_web_order": "Commande web",
        "reason_web_cancel": "Commande web annulée",
        "reason_web_refund": "Remboursement web",
        "reason_receipt": "Réception de marchandise",
        "reason_count_adjustment": "Inventaire",
        "reason_manual": "Modification manuelle",
        "channel_label": "Canal",
        "sku_label": "Code produit (SKU)",
        "apply": "Afficher",
        "see_all": "Tout voir",
        "skus_title": "Produits",
        "sku_search": "Chercher un produit par code ou nom",
        "search": "Chercher",
        "sku_results": "{count} produit(s) trouvé(s)",
        "sku_no_result": "Aucun produit ne correspond à « {query} ».",
        "sku_on_hand": "En stock (registre)",
        "sku_buffer": "Réservé au magasin",
        "sku_wanted": "Devrait afficher",
        "sku_shown": "Affiche maintenant",
        "sku_source_pushed": "envoyé par syncd",
        "sku_source_read": "lu sur le canal",
        "sku_source_document": "après sa propre vente",
        "sku_queued": "Mise à jour en attente",
        "sku_recent": "Mouvements récents",
        "sku_not_found": "Aucun produit avec le code « {sku} ».",
        "sku_name": "Nom",
        "unknown_title": "Produits inconnus et lignes refusées",
        "unknown_help": "Ventes mises de côté car leur code produit est encore inconnu. Ajoutez le code dans [aliases] de la configuration : elles sont appliquées dès que syncd le connaît.",
        "unknown_none": "Tous les codes produits sont connus.",
        "col_identifier": "Code reçu",
        "col_documents": "Documents",
        "col_quantity": "Unités",
        "rejected_title": "Lignes de caisse refusées",
        "rejected_none": "Aucune ligne refusée.",
        "col_file": "Fichier",
        "col_row": "Ligne",
        "col_column": "Colonne",
        "col_value": "Valeur",
        "col_problem": "Problème",
        "login_title": "Connexion",
        "login_password": "Mot de passe",
        "login_submit": "Se connecter",
        "login_wrong": "Mot de passe incorrect.",
        "login_busy": "Trop d’essais depuis cette adresse : attendez une minute, puis réessayez.",
        "login_help": "Cette page est protégée car syncd est accessible au-delà de cet ordinateur.",
        "error_auth": "le canal a refusé notre clé ou mot de passe (à vérifier dans la configuration)",
        "error_timeout": "le canal a mis trop de temps à répondre",
        "error_unreachable": "le canal est injoignable (est-il en ligne ?)",
        "error_rate": "le canal nous demande de ralentir",
        "error_server": "le canal a eu une erreur interne",
        "error_not_found": "le canal ne connaît pas une adresse ou un produit demandé",
        "error_config": "un réglage de ce canal est faux",
        "error_other": "{detail}",
        "csrf_refused": "Ce formulaire a expiré ou vient d’un autre site : rechargez la page et réessayez.",
        "duration_seconds": "{n} seconde(s)",
        "duration_minutes": "{n} minute(s)",
        "duration_hours": "{n} heure(s)",
        "duration_days": "{n} jour(s)",
        "ago": "il y a {duration}",
    },
}


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


@dataclass(frozen=True, slots=True)
class Translator:
    """Messages, dates and durations in one language and the merchant's time zone."""

    lang: str
    zone: tzinfo

    def __call__(self, key: str, **fields: object) -> str:
        text = MESSAGES[self.lang].get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**fields) if fields else text

    def duration(self, seconds: float) -> str:
        """12 minutes, 3 hours: rounded down to the largest unit a merchant reads."""
        value = max(0, int(seconds))
        if value < 90:
            return self("duration_seconds", n=value)
        if value < 90 * 60:
            return self("duration_minutes", n=value // 60)
        if value < 36 * 3600:
            return self("duration_hours", n=value // 3600)
        return self("duration_days", n=value // 86400)

    def time(self, when: datetime | None, *, seconds: bool = False) -> str:
        if when is None:
            return self("never")
        local = when.astimezone(self.zone)
        return local.strftime("%H:%M:%S" if seconds else "%H:%M")

    def when(self, when: datetime | None, now: datetime | None = None) -> str:
        """Today's times as "10:02:03", other days with their date, in the merchant's zone."""
        if when is None:
            return self("never")
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
        return self("seconds_short", value=text)
