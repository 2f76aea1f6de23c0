"""The status page's pure parts: language choice, formatting, plain-word errors, scrubbing,
sessions and CSRF tokens, the 24-hour history and the SVG charts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest

from syncd.config import Secret
from syncd.i18n import Translator, choose_language
from syncd.logs import clean
from syncd.web.auth import Guard, Session
from syncd.web.charts import Series, bar_chart, line_chart, nice_ceiling
from syncd.web.data import STATE_LABELS, explain_error, label
from syncd.web.history import History, percentile

PARIS = ZoneInfo("Europe/Paris")
NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 12:00 in Paris


@pytest.mark.parametrize(
    ("setting", "header", "cookie", "expected"),
    [
        ("auto", "fr-FR,fr;q=0.9,en;q=0.8", None, "fr"),
        ("auto", "de-DE,en;q=0.7,fr;q=0.9", None, "fr"),
        ("auto", "de-DE", None, "en"),
        ("auto", None, None, "en"),
        ("auto", "fr;q=0", None, "en"),
        ("fr", "en-US", None, "fr"),
        ("fr", "en-US", "en", "en"),
        ("auto", "fr", "xx", "fr"),
    ],
)
def test_language_choice(
    setting: str, header: str | None, cookie: str | None, expected: str
) -> None:
    assert choose_language(setting, header, cookie) == expected


def test_dates_and_durations_in_the_merchants_zone_and_language() -> None:
    en, fr = Translator("en", PARIS), Translator("fr", PARIS)
    assert en.when(NOON, NOON + timedelta(hours=1)) == "12:00:00"
    assert en.when(NOON, NOON + timedelta(days=2)) == "23 Nov 2026, 12:00"
    assert fr.when(NOON, NOON + timedelta(days=2)) == "23 nov. 2026 12:00"
    assert en.when(None) == "never" and fr.when(None) == "jamais"
    assert en.duration(720) == "12 minutes" and fr.duration(7200) == "2 heures"
    assert en.duration(45) == "45 seconds" and en.duration(3 * 86400) == "3 days"
    assert en.duration(1) == "1 second" and en.duration(0) == "0 seconds"
    assert (
        fr.duration(1) == "1 seconde" and fr.duration(0) == "0 seconde"
    )  # 0 is singular in French
    assert fr.duration(5400) == "1 heure" and fr.duration(86400 * 2) == "2 jours"
    assert en.seconds(0.25) == "0.25 s" and fr.seconds(0.25) == "0,25 s"


def test_codes_show_their_label_or_themselves() -> None:
    fr = Translator("fr", PARIS)
    assert label(fr, STATE_LABELS, "in_sync") == "Synchronisé"
    assert label(fr, STATE_LABELS, "50%_done") == "50%_done"  # a new code is shown, not formatted


def test_errors_in_plain_words_and_without_secrets() -> None:
    t = Translator("en", PARIS)
    assert explain_error("push: HTTP 401 Unauthorized", t).startswith("the channel refused our key")
    assert explain_error("pull: Cannot connect to host shop:443", t).startswith(
        "the channel could not be reached"
    )
    assert (
        explain_error("push: HTTP 429 Too Many Requests", t) == "the channel asked us to slow down"
    )
    assert explain_error("push: HTTP 503", t) == "the channel had an internal error"
    assert explain_error("push: the shelf is on fire", t) == "the shelf is on fire"
    assert explain_error("", t) == ""
    dirty = "GET https://bob:s3cr3t@shop.example/api/products?ws_key=ABCDEF&display=full failed"
    assert clean(dirty) == (
        "GET https://<redacted>@shop.example/api/products?ws_key=<redacted>&display=full failed"
    )


def test_sessions_are_signed_and_csrf_tokens_bound_to_them() -> None:
    guard = Guard(Secret("open sesame"))
    session = guard.new_session(logged_in=True)
    cookie = guard.dump(session)
    assert guard.load(cookie) == session
    body, _, signature = cookie.rpartition(".")
    assert guard.load(f"{body}x.{signature}") is None
    assert guard.load(f"{body}.{'0' * len(signature)}") is None
    assert guard.load("garbage") is None and guard.load(None) is None
    assert Guard(Secret("open sesame")).load(cookie) is None  # another process, another key
    expired = Session("abc", True, int(time.time()) - 1)
    assert guard.load(guard.dump(expired)) is None

    other = guard.new_session()
    assert guard.check_csrf(session, guard.csrf_token(session))
    assert not guard.check_csrf(session, guard.csrf_token(other))
    assert not guard.check_csrf(None, guard.csrf_token(session))
    assert not guard.check_csrf(session, "")

    assert guard.check_password("open sesame") and not guard.check_password("open sesam")
    assert not Guard(None).check_password("")
    assert guard.check_basic("Basic c3luY2Q6b3BlbiBzZXNhbWU=")  # syncd:open sesame
    assert not guard.check_basic("Basic !!!") and not guard.check_basic("Bearer open sesame")


def test_history_keeps_a_day_per_minute_and_an_hour_of_latencies() -> None:
    history = History(minutes=60)
    for i in range(120):
        history.record_latency("webshop", 0.1 * (i % 10 + 1), NOON + timedelta(minutes=i))
        history.record_lag("webshop", float(i), NOON + timedelta(minutes=i))
        history.record_lag("webshop", 0.0, NOON + timedelta(minutes=i, seconds=30))
    now = NOON + timedelta(minutes=119, seconds=59)
    summary = history.latency_summary(now)
    assert summary.samples == 60  # only the last hour
    assert summary.p50 == pytest.approx(0.5) and summary.p99 == pytest.approx(1.0)
    lag = history.lag_series(now)["webshop"]
    assert len(lag) == 60 and lag[-1].value == 119.0  # the minute keeps its highest value
    assert history.latency_summary(now, channel="till").samples == 0
    assert percentile([], 0.5) is None and percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0


def test_charts_are_valid_svg_with_a_text_summary() -> None:
    t = Translator("en", PARIS)
    series = [
        Series("webshop", [(NOON, 0.4), (NOON + timedelta(minutes=30), 1.2)], "#1f5fa8"),
        Series("magento", [(NOON + timedelta(minutes=10), 0.2)], "#b3421b", "6 3"),
    ]
    svg = line_chart(
        series,
        start=NOON,
        end=NOON + timedelta(hours=1),
        zone=PARIS,
        title="Latency <&>",
        empty_text="Nothing",
        y_label=t.seconds,
        summarize=lambda s: f"{s.label}: {max(v for _, v in s.points)}",
    )
    root = ElementTree.fromstring(str(svg))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.find(f"{ns}title").text == "Latency <&>"  # type: ignore[union-attr]
    assert root.find(f"{ns}desc").text == "webshop: 1.2; magento: 0.2"  # type: ignore[union-attr]
    assert len(root.findall(f"{ns}polyline")) == 2
    labels = [e.text for e in root.iter(f"{ns}text")]
    assert "12:00" in labels and "2 s" in labels  # local time ticks, a nice y maximum

    hours = [NOON + timedelta(hours=i) for i in range(3)]
    bars = bar_chart(
        hours,
        {"till": [2, 0, 1], "webshop": [1, 0, 0]},
        {"till": ("#111111", ""), "webshop": ("#222222", "")},
        zone=PARIS,
        title="Sales",
        empty_text="Nothing",
        summarize=lambda ch, total: f"{ch} {total}",
    )
    root = ElementTree.fromstring(str(bars))
    assert len(root.findall(f"{ns}rect")) == 3
    assert root.find(f"{ns}desc").text == "till 3; webshop 1"  # type: ignore[union-attr]
    empty = line_chart(
        [],
        start=NOON,
        end=NOON,
        zone=PARIS,
        title="x",
        empty_text="Nothing yet",
        y_label=str,
        summarize=str,
    )
    assert "Nothing yet" in empty
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 12, 240)] == [1, 0.5, 1, 10, 20, 250]


def test_a_busy_minute_is_sampled_and_weighted() -> None:
    history = History()
    for i in range(10_000):  # 10,000 pushes in one minute: 1 % take 5 s, the rest 0.1 s
        history.record_latency("webshop", 5.0 if i % 100 == 0 else 0.1, NOON)
    history.record_latency("till", 0.3, NOON)
    summary = history.latency_summary(NOON + timedelta(seconds=59))
    assert summary.samples == 10_001
    assert summary.p50 == pytest.approx(0.1)
    assert [len(m.sample) for m in history._latency["webshop"]] == [200]  # bounded memory
    assert history.latency_series(NOON)["webshop"][0].value == pytest.approx(0.1)


def test_the_readme_shows_a_committed_1280x800_screenshot() -> None:
    import struct
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    png = (root / "docs" / "status-page.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 800)
    assert "](docs/status-page.png)" in (root / "README.md").read_text(encoding="utf-8")
