"""The status page every `serve` shows on its HTTP port: the mesh, each server's fill chart, and
what the thin clients got. Plain HTML and inline CSS, no script, nothing fetched from anywhere
(schools run closed LANs): the charts are inline SVG, and the page reloads itself every
REFRESH_S seconds with a meta refresh. Everything that comes from the network (server names
announced over mDNS, a client's MAC) is escaped, and the page's own Content-Security-Policy
forbids scripts and every outside fetch, so a hostile name cannot run anything in an admin's
browser. Pure: the figures, the history and the clock are passed in; HTML bytes come out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.view.decisions import Decision
from ltsp_mesh.core.view.history import FillHistory
from ltsp_mesh.core.view.mesh import ServerView

REFRESH_S: Final = 5
CHART_WIDTH: Final = 240
CHART_HEIGHT: Final = 36
# A chart of more points than it has pixels to spare shows nothing more: each point is the
# highest fill of its stretch of time, so a storm's peak is never averaged away.
CHART_POINTS: Final = 80
CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'"
)
# Each status's badge: background and text colour (the lab test finds the backgrounds in the
# browser's screenshot).
STATUS_COLOURS: Final = {
    "Idle": ("#d6f5dc", "#14642a"),
    "Busy": ("#fff0c2", "#7a5500"),
    "Swapped": ("#ffd9c7", "#8a2d00"),
    "Draining": ("#dfe6f3", "#2d4a7a"),
    "Down": ("#f8d0d0", "#8a1010"),
    "Untrusted": ("#ead9f5", "#5b2380"),
    "Unmeasured": ("#e6e6e6", "#444444"),
}
STATUS_CLASSES: Final = tuple(STATUS_COLOURS)

STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#1d2433;background:#f7f8fa}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
.meta{color:#555;margin:0 0 .8em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.35em .6em;border-bottom:1px solid #e3e6eb;text-align:right;white-space:nowrap}
th{background:#eef1f5;font-weight:600}td.l,th.l{text-align:left}
tr.rec td{background:#eefaf0}
.st{display:inline-block;min-width:5.5em;padding:.05em .5em;border-radius:.8em;text-align:center;font-weight:600}
.star{color:#14642a;font-weight:700}
.bar{display:inline-block;width:4em;height:.6em;background:#e3e6eb;margin-left:.4em;vertical-align:middle}
.bar i{display:block;height:100%;background:#3b7dd8}
svg{display:block}
.why td{font-size:.92em}.skip{color:#666;white-space:normal;text-align:left}
form{margin:.3em 0 .6em}input{font:inherit;padding:.15em .4em;width:16em}
footer{margin-top:1.5em;color:#666;font-size:.9em}
""" + "".join(f".{status}{{background:{bg};color:{fg}}}" for status, (bg, fg) in STATUS_COLOURS.items())


@dataclass(frozen=True, slots=True)
class PageData:
    """What one rendering of the page shows."""

    host: str  # the server showing the page
    at: float  # wall-clock seconds
    utc_offset_s: int  # the server's local time zone, for the clock on the page
    view_age_s: float | None  # how old the broker's figures are (None: never refreshed)
    rows: Sequence[ServerView]
    history: FillHistory
    fair_share: float | None
    decisions: Sequence[Decision]
    client: str | None = None  # the decisions shown are this client's only


def clock(at: float, utc_offset_s: int) -> str:
    """HH:MM:SS of wall-clock `at` in the zone `utc_offset_s` east of UTC."""
    seconds = int(at + utc_offset_s) % 86400
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


FILL_CSS: Final = 'fill="none" stroke="#3b7dd8" stroke-width="1.6" stroke-linecap="round"'
FAIR_CSS: Final = 'fill="none" stroke="#999" stroke-dasharray="3 3" stroke-width="1"'


def polylines(series: Sequence[float], top: float, css: str) -> str:
    """SVG polylines of `series` across the chart, 0 at the bottom and `top` at the top, broken
    where a value is NaN (one value alone still shows as a dot)."""
    width, height = CHART_WIDTH, CHART_HEIGHT
    step = width / max(1, len(series) - 1)
    scale = (height - 4) / top
    runs: list[list[str]] = [[]]
    for index, value in enumerate(series):
        if value != value:
            runs.append([])
        else:
            runs[-1].append(f"{index * step:.1f},{height - 2 - scale * min(value, top):.1f}")
    out = []
    for run in runs:
        if len(run) == 1:
            run = [run[0], run[0]]
        if run:
            out.append(f'<polyline points="{" ".join(run)}" {css}/>')
    return "".join(out)


def chart(shown: Sequence[float], fair: str, top: float) -> str:
    """An inline SVG of one server's (downsampled) fill over the fair share's `fair` polylines."""
    width, height = CHART_WIDTH, CHART_HEIGHT
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="fill over time"><rect width="{width}" height="{height}" fill="#f3f5f8"/>'
        f"{fair}{polylines(shown, top, FILL_CSS)}</svg>"
    )


# html.escape's table, without importing the html package (its entity tables weigh 0.3 MB).
_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def _e(value: object) -> str:
    return str(value).translate(_ESCAPES)


def _row(view: ServerView, shown: Sequence[float], fair: str, top: float) -> str:
    r = view.record
    mark = '<span class="star" title="recommended now">&#9733;</span>' if view.recommended else ""
    status = f'<span class="st {_e(view.status)}">{_e(view.status)}</span>'
    if view.reasons:
        status = f'<span title="{_e("; ".join(view.reasons))}">{status}</span>'
    graph = chart(shown, fair, top) if shown else ""
    if r is None:
        figures = '<td colspan="8" class="l">' + _e("; ".join(view.reasons) or "-") + "</td>"
    else:
        width = min(100.0, 100 * r.fill / top)
        figures = (
            f"<td>{r.sessions}</td><td>{r.pending}</td><td>{r.capacity}</td>"
            f'<td>{r.fill:.2f}<span class="bar"><i style="width:{width:.0f}%"></i></span></td>'
            f"<td>{r.load_per_cpu:.2f}</td><td>{r.mem_percent}%</td><td>{'yes' if r.swapping else 'no'}</td>"
            f"<td>{'-' if view.response_ms is None else f'{view.response_ms:.1f}'}</td>"
        )
    css = ' class="rec"' if view.recommended else ""
    return (
        f"<tr{css}><td>{mark}</td><td class=l>{_e(view.name)}</td><td class=l>{_e(view.address)}</td>"
        f"<td class=l>{status}</td>{figures}<td>{graph}</td></tr>"
    )


def _decision(d: Decision, utc_offset_s: int) -> str:
    got = ", ".join(f"{_e(h.name)} ({h.fill:.2f})" for h in d.listed) or "-"
    if d.more_listed:
        got += f" and {d.more_listed} more"
    skipped = "; ".join(f"{_e(s.name)}: {_e(s.why)}" for s in d.skipped) or "-"
    if d.more_skipped:
        skipped += f"; and {d.more_skipped} more"
    return (
        f"<tr><td>{clock(d.at, utc_offset_s)}</td><td class=l>{_e(d.client)}</td>"
        f"<td class=l>{_e(d.mac or '-')}</td><td class=l>{_e(d.algorithm)}</td><td>{d.status}</td>"
        f"<td class=l>{got}</td><td class=skip>{skipped}</td></tr>"
    )


def render(data: PageData) -> bytes:
    """The whole page."""
    history = data.history
    shown, fair_shown = history.shown(CHART_POINTS)
    names = {v.name for v in data.rows}
    peaks = [v for name, values in shown.items() if name in names for v in values if v == v]
    figures = [v.record.fill for v in data.rows if v.record is not None]
    top = max([1.0, *peaks, *figures])
    fair_lines = polylines(fair_shown, top, FAIR_CSS)
    recommended = next((v.name for v in data.rows if v.recommended), None)
    counts = {s: sum(1 for v in data.rows if v.status == s) for s in STATUS_CLASSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    age = "no figures yet" if data.view_age_s is None else f"figures {data.view_age_s:.1f} s old"
    span = history.times[-1] - history.times[0] if len(history.times) > 1 else 0.0
    fair = "-" if data.fair_share is None else f"{data.fair_share:.2f}"
    rows = "".join(_row(v, shown.get(v.name, ()), fair_lines, top) for v in data.rows) or (
        '<tr><td colspan="13" class="l">no _ltsp._tcp server seen yet</td></tr>'
    )
    who = f" for {_e(data.client)}" if data.client else ""
    decisions = "".join(_decision(d, data.utc_offset_s) for d in data.decisions) or (
        f'<tr><td colspan="7" class="l">no answer{who} since this daemon started</td></tr>'
    )
    title = f"ltsp-mesh on {data.host}: {len(data.rows)} servers"
    chart_title = (
        f"Fill, last {_span(span)} (dashed: fair share; top {top:.2f})"
        if span
        else f"Fill (charted every {history.step_s:g} s)"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta http-equiv="refresh" content="{REFRESH_S}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{_e(summary) or "nothing seen"} &middot; recommended now:
<b id="recommended">{_e(recommended or "none")}</b> &middot; fair share {fair} &middot; {age} &middot;
at {clock(data.at, data.utc_offset_s)}, every {REFRESH_S} s</p>
<table id="servers"><thead><tr><th></th><th class=l>Server</th><th class=l>Address</th><th class=l>Status</th>
<th>Sessions</th><th>Pending</th><th>Capacity</th><th>Fill</th><th>Load/CPU</th><th>Memory</th>
<th>Swap</th><th>RTT ms</th><th class=l>{chart_title}</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2 id="why">What thin clients got{who}</h2>
<form method="get" action="/"><input name="client" placeholder="client address or MAC" value="{_e(data.client or "")}">
<button>Why?</button></form>
<table class="why"><thead><tr><th>Time</th><th class=l>Client</th><th class=l>MAC</th><th class=l>Algorithm</th>
<th>HTTP</th><th class=l>Listed, best first (fill)</th><th class=l>Skipped, why</th></tr></thead>
<tbody>{decisions}</tbody></table>
<footer>Read-only: draining stays <code>ltsp-mesh drain</code> as root on the server.
<a href="/metrics">/metrics</a> for Prometheus, <a href="/status.json">/status.json</a>,
<a href="/decisions.json">/decisions.json</a>.</footer>
</body></html>
""".encode()
