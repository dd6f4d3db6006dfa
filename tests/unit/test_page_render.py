"""core/view/page.py: the status page, rendered from values."""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.view import mesh, page
from ltsp_mesh.core.view.decisions import Decision, Handed, Skipped
from ltsp_mesh.core.view.history import FillHistory, downsample
from ltsp_mesh.core.view.mesh import ServerView
from tests.unit.fleet import discovered, server


def rows(*answers: Answered, silent: tuple[str, ...] = ()) -> list[ServerView]:
    return mesh.build(
        list(answers),
        [discovered(n) for n in silent],
        [],
        settings=ClientSettings(),
        mac="00:00:00:00:00:00",
        rng=random.Random(0),
    )


def render(views: list[ServerView], **changes: object) -> str:
    data = page.PageData(
        host="app1",
        at=3600.0 * 8 + 62,
        utc_offset_s=0,
        view_age_s=0.4,
        rows=views,
        history=FillHistory(step_s=1, window_s=100),
        fair_share=0.5,
        decisions=[],
    )
    return page.render(replace(data, **changes)).decode()  # type: ignore[arg-type]


def row_of(html: str, name: str) -> str:
    return next(r for r in html.split("<tr") if f"<td class=l>{name}</td>" in r)


def status_of(html: str, name: str) -> str:
    row = row_of(html, name)
    found = re.search(r'class="st (\w+)"', row)
    assert found is not None, row
    return found.group(1)


def test_every_server_is_shown_with_its_status() -> None:
    html = render(
        rows(
            server("pidle"),
            server("pbusy", load=3.0),
            server("pswap", swapping=True),
            server("pdrain", state=ServerState.DRAIN),
            silent=("pdown",),
        )
    )
    statuses = {n: status_of(html, n) for n in ("pidle", "pbusy", "pswap", "pdrain", "pdown")}
    assert statuses == {
        "pidle": "Idle",
        "pbusy": "Busy",
        "pswap": "Swapped",
        "pdrain": "Draining",
        "pdown": "Down",
    }


def test_the_recommended_server_is_named_and_starred() -> None:
    html = render(rows(server("pbusy", load=3.0), server("pidle")))
    assert '<b id="recommended">pidle</b>' in html
    assert "&#9733;" in row_of(html, "pidle") and "&#9733;" not in row_of(html, "pbusy")


def test_the_figures_of_a_server_are_shown() -> None:
    html = render(rows(server("pa", sessions=3, pending=1, capacity=8, load=0.75, mem=61)))
    row = row_of(html, "pa")
    cells = re.findall(r"<td>([^<]*)", row)
    assert cells[1:9] == ["3", "1", "8", "0.50", "0.75", "61%", "no", "5.0"]


def test_the_page_reloads_itself_and_loads_nothing_from_outside() -> None:
    html = render(rows(server("pa")))
    assert f'<meta http-equiv="refresh" content="{page.REFRESH_S}">' in html
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_a_hostile_name_is_shown_as_text() -> None:
    # The instance name comes from mDNS: any UTF-8 up to 63 bytes.
    evil = server("pa")
    evil = replace(
        evil, discovered=replace(evil.discovered, instance='x"><script>alert(1)</script>._ltsp._tcp.local.')
    )
    html = render(rows(evil))
    assert "<script>" not in html and "x&quot;&gt;&lt;script&gt;" in html


def test_the_decisions_section_names_the_client_filtered_on() -> None:
    decision = Decision(
        3600.0 * 8 + 5,
        "10.77.0.5",
        "02:00:00:00:00:05",
        "least-loaded",
        200,
        (Handed("pa._ltsp._tcp.local.", "10.77.0.1", 0.25),),
        (Skipped("pd._ltsp._tcp.local.", "draining"),),
        more_listed=2,
    )
    html = render(rows(server("pa")), decisions=[decision], client="10.77.0.5")
    assert "What thin clients got for 10.77.0.5" in html
    assert "08:00:05" in html and "pa (0.25) and 2 more" in html and "pd: draining" in html
    assert 'value="10.77.0.5"' in html


def test_no_decision_says_so() -> None:
    assert "no answer for 10.0.0.9 since this daemon started" in render([], client="10.0.0.9")


def test_the_clock_is_in_the_servers_zone() -> None:
    assert page.clock(0.0, 3600) == "01:00:00"
    assert page.clock(86399.0, 0) == "23:59:59"
    assert page.clock(0.0, -3600) == "23:00:00"


def test_a_server_with_history_gets_a_chart_broken_at_gaps() -> None:
    history = FillHistory(step_s=1, window_s=100)
    for t, fill in enumerate([0.1, 0.2, math.nan, 0.4, 0.5]):
        history.record(float(t), {"pa": fill}, 0.3)
    html = render(rows(server("pa")), history=history)
    row = row_of(html, "pa")
    assert row.count("<svg") == 1
    fill_lines = re.findall(r'<polyline points="([^"]*)"[^>]*stroke="#3b7dd8"', row)
    assert [len(points.split()) for points in fill_lines] == [2, 2]
    (fair_line,) = re.findall(r'<polyline points="([^"]*)"[^>]*stroke-dasharray', row)
    assert len(fair_line.split()) == 5  # the fair share, dashed, under every chart


def test_downsampling_keeps_each_stretchs_peak() -> None:
    values = [0.1] * 1000
    values[537] = 0.9
    shown = downsample(values, 100)
    assert len(shown) == 100 and max(shown) == 0.9


def test_downsampling_keeps_a_stretch_never_heard_as_a_gap() -> None:
    shown = downsample([math.nan] * 10 + [0.5] * 10, 2)
    assert math.isnan(shown[0]) and shown[1] == 0.5
