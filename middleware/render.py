"""Turning a profile into output: Server-Timing, a log line, the HTML page, the badge.

Every function takes the profile document (:meth:`Recording.to_profile`) and
returns text; none touches a framework.

Example:
    >>> server_timing(profile)
    'db;dur=3.1;desc="Database (2 statements)", decode;dur=8.0;desc="Protobuf decode (50 entities)", ...'
"""

from __future__ import annotations

import datetime
import html
import json
import string
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["badge_html", "inject_badge", "log_fields", "render_html", "server_timing"]


def server_timing(profile: dict[str, Any]) -> str:
    """The ``Server-Timing`` header value: db, decode, app and total, with descriptions.

    Example:
        >>> server_timing({"db_ms": 1, "decode_ms": 2, "app_ms": 3, "total_ms": 6, ...})
        'db;dur=1;desc="Database (1 statements)", ...'
    """
    return ", ".join(
        [
            f'db;dur={profile["db_ms"]};desc="Database ({_n(len(profile["queries"]), "statement")})"',
            f'decode;dur={profile["decode_ms"]};desc="Protobuf decode ({_n(profile["entities"], "entity", "entities")})"',
            f'app;dur={profile["app_ms"]};desc="Application"',
            f'total;dur={profile["total_ms"]};desc="Total"',
        ]
    )


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def log_fields(profile: dict[str, Any], url: str) -> dict[str, Any]:
    """The fields of the one structured log line per profiled request."""
    saved = sum(s["saved_ms"] for s in profile["suggestions"])
    return {
        "profile": profile["id"],
        "method": profile["method"],
        "path": profile["path"],
        "status": profile["status"],
        "total_ms": profile["total_ms"],
        "db_ms": profile["db_ms"],
        "decode_ms": profile["decode_ms"],
        "app_ms": profile["app_ms"],
        "queries": len(profile["queries"]),
        "entities": profile["entities"],
        "suggestions": len(profile["suggestions"]),
        "saved_ms": round(saved, 3),
        "url": url,
    }


def log_message(fields: dict[str, Any]) -> str:
    """``key=value`` pairs (logfmt), values JSON-quoted where they need it."""
    parts = []
    for key, value in fields.items():
        text = str(value)
        if not text or any(c in text for c in ' "=\\'):
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return "protolens " + " ".join(parts)


def badge_html(url: str, profile: dict[str, Any]) -> str:
    """The corner badge: total, db and decode time, linking to the profile."""
    hint = " !" if profile["suggestions"] else ""
    return (
        f'<a id="protolens-badge" href="{html.escape(url)}" target="_blank" rel="noopener" '
        'style="position:fixed;right:12px;bottom:12px;z-index:2147483647;'
        "background:#111827;color:#f9fafb;font:12px/1.2 system-ui,sans-serif;"
        "padding:6px 10px;border-radius:6px;text-decoration:none;"
        'box-shadow:0 2px 8px rgba(0,0,0,.3)" '
        'title="protolens: open this request\'s profile">'
        f"{profile['total_ms']:.0f} ms &middot; db {profile['db_ms']:.0f} &middot; "
        f"decode {profile['decode_ms']:.0f}{hint}</a>"
    )


def inject_badge(body: bytes, badge: str, charset: str = "utf-8") -> bytes:
    """*body* with *badge* inserted before the last ``</body>`` (unchanged if absent)."""
    at = body.lower().rfind(b"</body>")
    if at < 0:
        return body
    return body[:at] + badge.encode(charset, "xmlcharrefreplace") + body[at:]


@cache
def _template() -> string.Template:
    text = resources.files("middleware").joinpath("templates/profile.html").read_text("utf-8")
    return string.Template(text)


@cache
def _css() -> str:
    return resources.files("middleware").joinpath("static/profile.css").read_text("utf-8")


def render_html(profile: dict[str, Any]) -> str:
    """The profile page: totals, suggestions, timeline, decode table, SQL list."""
    p = profile
    esc = html.escape
    when = datetime.datetime.fromtimestamp(p["started_at"], datetime.UTC)
    return _template().substitute(
        css=_css(),
        method=esc(p["method"]),
        path=esc(p["path"]),
        status=esc(str(p["status"] or "")),
        when=when.strftime("%Y-%m-%d %H:%M:%S UTC"),
        id=esc(p["id"]),
        total_ms=f"{p['total_ms']:.1f}",
        db_ms=f"{p['db_ms']:.1f}",
        decode_ms=f"{p['decode_ms']:.1f}",
        app_ms=f"{p['app_ms']:.1f}",
        statements=_n(len(p["queries"]), "statement"),
        entities=_n(p["entities"], "entity", "entities"),
        suggestions=_suggestions(p["suggestions"]),
        split=_split(p),
        timeline=_timeline(p),
        decodes=_decodes(p["decodes"]),
        queries=_queries(p),
    )


def _suggestions(items: list[dict[str, Any]]) -> str:
    if not items:
        return '<p class="none">No projection would pay off for this request.</p>'
    out = []
    for s in items:
        out.append(
            '<div class="suggestion">'
            f'<div><b>{html.escape(s["model"])}</b> at <span class="site">'
            f"{html.escape(s['site'])}</span>: {s['entities']} entities decoded with "
            f"{s['decoded']} properties each; the code read {len(s['properties'])}.</div>"
            f"<pre>{html.escape(s['code'])}</pre>"
            f'<div class="saves">saves about {s["saved_ms"]:.1f} ms of '
            f"{s['decode_ms']:.1f} ms decoding</div></div>"
        )
    return "\n".join(out)


def _pct(ms: float, total: float) -> float:
    return round(100 * ms / total, 3) if total > 0 else 0.0


def _split(p: dict[str, Any]) -> str:
    total = p["total_ms"]
    return "".join(
        f'<span class="bar-{k}" style="width:{_pct(p[k + "_ms"], total)}%" '
        f'title="{k} {p[k + "_ms"]:.1f} ms"></span>'
        for k in ("db", "decode", "app")
    )


def _lane(label: str, cls: str, spans: list[tuple[float, float, str]], total: float) -> str:
    bars = "".join(
        f'<span class="{cls}" style="left:{_pct(start, total)}%;width:{_pct(ms, total)}%" '
        f'title="{html.escape(title)}"></span>'
        for start, ms, title in spans
    )
    return f'<div class="lane-label">{label}</div><div class="lane">{bars}</div>'


def _timeline(p: dict[str, Any]) -> str:
    total = p["total_ms"]
    sql = [(q["start_ms"], q["ms"], f"{q['ms']:.2f} ms {q['sql'][:120]}") for q in p["queries"]]
    dec = [(d["start_ms"], d["ms"], f"{d['ms']:.2f} ms decode {d['model']}") for d in p["timeline"]]
    return _lane("SQL", "bar-db", sql, total) + _lane("decode", "bar-decode", dec, total)


def _decodes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="none">No orm_ext entities were decoded.</p>'
    body = []
    for r in rows:
        projected = "all" if r["projected"] is None else ", ".join(r["projected"])
        read = ", ".join(r["read"]) or "none"
        body.append(
            f"<tr><td><b>{html.escape(r['model'])}</b></td>"
            f'<td class="site">{html.escape(r["site"])}</td>'
            f'<td class="num">{r["entities"]}</td><td class="num">{r["ms"]:.2f}</td>'
            f'<td class="num">{len(r["decoded"])} / {r["properties"]}</td>'
            f"<td>{html.escape(projected)}</td>"
            f'<td class="read">{len(r["read"])}: {html.escape(read)}</td></tr>'
        )
    return (
        "<table><tr><th>Model</th><th>Call site</th><th class=num>Entities</th>"
        "<th class=num>Decode ms</th><th class=num>Decoded / all</th><th>Projection</th>"
        "<th>Read by the code</th></tr>" + "".join(body) + "</table>"
    )


def _queries(p: dict[str, Any]) -> str:
    if not p["queries"]:
        return '<p class="none">No SQL statements.</p>'
    body = []
    for i, q in enumerate(p["queries"], 1):
        params = "" if q["params"] is None else f"<pre>{html.escape(str(q['params']))}</pre>"
        error = f" <b>{html.escape(q['error'])}</b>" if q["error"] else ""
        body.append(
            f'<tr><td class="num">{i}</td><td class="num">{q["start_ms"]:.2f}</td>'
            f'<td class="num">{q["ms"]:.2f}</td><td>{q["source"]}{error}</td>'
            f"<td><pre>{html.escape(q['sql'])}</pre>{params}</td></tr>"
        )
    dropped = (
        f'<p class="none">{p["dropped_queries"]} more statements were not kept.</p>'
        if p.get("dropped_queries")
        else ""
    )
    return (
        "<table><tr><th class=num>#</th><th class=num>At ms</th><th class=num>ms</th>"
        "<th>Source</th><th>Statement</th></tr>" + "".join(body) + "</table>" + dropped
    )
