"""What a `serve` shows of the mesh on its broker's port: the status page, /metrics, the JSON
forms, and the record of what the thin clients were told.

- The pages are answered beside the broker's path (routes.py says which), with budgets of
  their own (a page viewer never spends a thin client's), and built from what the daemon
  already holds, with no I/O: a request waits at most PAGE_WAIT_S for the view's refresh (the
  wait a thin client's request would have), then renders synchronously. A page is rendered at
  most once per RENDER_CACHE_S whatever the number of viewers or scrapers.
- `timed` wraps the broker's decision: it measures each answer, counts each server listed
  first, and keeps the decision (who, which algorithm, the list, why each other server was
  left out) for the page; with debug logging on `ltsp_mesh.decisions` (`ltsp-mesh -vv serve`)
  each decision also goes to the journal as one line.
- A history task samples every server's fill every history.STEP_S for the page's charts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

from ltsp_mesh.core.broker import answer
from ltsp_mesh.core.broker.answer import JSON_TYPE, Reply
from ltsp_mesh.core.broker.request import BadRequest, BrokerRequest, Form
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.view import decisions, mesh, page, routes
from ltsp_mesh.core.view.history import FillHistory
from ltsp_mesh.core.view.routes import Page, PageRequest
from ltsp_mesh.shell.broker import mesh_status
from ltsp_mesh.shell.broker.endpoint import Decide
from ltsp_mesh.shell.broker.live_view import LiveView
from ltsp_mesh.shell.server import metrics

log = logging.getLogger(__name__)
decision_log = logging.getLogger("ltsp_mesh.decisions")

# A page request may wait for the view's refresh as long as a thin client's request does
# (daemon.BROKER_WAIT_S): a LAN round trip, or live_view.READY_WAIT_S when a server died.
PAGE_WAIT_S: Final = 0.15
# Ten open pages reload every 5 s and Prometheus scrapes every 15 s or so: one rendering a
# second serves them all, and bounds the broker's time spent on pages to a few ms a second.
RENDER_CACHE_S: Final = 1.0
# A person reloads a page now and then; a scraper once a second at most. Per source: 2 a
# second with bursts of 10; all sources together 50 a second (a school's whole staff).
PAGES_PER_SOURCE_PER_S: Final = 2.0
PAGES_BURST: Final = 10.0
PAGES_PER_S: Final = 50.0
HTML_TYPE: Final = "text/html; charset=utf-8"
PAGE_NAMES: Final = {
    Page.STATUS: "status",
    Page.METRICS: "metrics",
    Page.STATUS_JSON: "status_json",
    Page.DECISIONS_JSON: "decisions_json",
}
# The decisions the page shows when it asks for no client in particular.
PAGE_DECISIONS: Final = 20


class Monitor:
    """The pages, the answer-time histogram, the picks, the decisions and the fill history."""

    def __init__(
        self,
        live: Callable[[], LiveView | None],
        counters: Counter[str],
        own: Callable[[], ServerRecord],
        host: str,
        history: FillHistory | None = None,
    ) -> None:
        self.live, self.counters, self.own, self.host = live, counters, own, host
        self.history = history or FillHistory()
        self.decisions = decisions.DecisionLog()
        self.answer_times = metrics.AnswerTimes()
        self.picks: Counter[str] = Counter()
        self.page_counts: Counter[str] = Counter()
        self.limiter = RateLimiter(
            per_source_per_s=PAGES_PER_SOURCE_PER_S, per_source_burst=PAGES_BURST, global_per_s=PAGES_PER_S
        )
        self._cache: dict[Page, tuple[float, Reply]] = {}
        self._task: asyncio.Task[None] | None = None
        self._metrics_loaded = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling the fill history."""
        self._task = asyncio.get_running_loop().create_task(self._sample_history())

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _sample_history(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            live = self.live()
            if live is not None:  # None while the daemon moves to new addresses
                fills, fair = mesh_status.fills(live, loop.time(), time.time())
                self.history.record(time.time(), fills, fair)
            await asyncio.sleep(self.history.step_s)

    # -- the broker's answers ----------------------------------------------------------
    def timed(self, decide: Decide) -> Decide:
        """`decide`, measured, its first server counted, its decision kept."""

        async def measured(request: BrokerRequest, client: str, local: str) -> Reply:
            loop = asyncio.get_running_loop()
            started = loop.time()
            reply = await decide(request, client, local)
            now = loop.time()
            try:
                self.answer_times.observe(now - started)
                if reply.claim is not None:
                    self._picked(reply.claim.answered.discovered.label)
                if request.form is Form.TEXT and not request.head:
                    self._decided(request, reply, client, now)
            except Exception:  # watching must never cost a thin client its answer
                self.counters["monitor_failed"] += 1
                if self.counters["monitor_failed"] == 1:
                    log.exception("could not record a decision (counted from now on as monitor_failed)")
            return reply

        return measured

    def _picked(self, name: str) -> None:
        if name not in self.picks and len(self.picks) >= metrics.MAX_PICKED_SERVERS:
            del self.picks[min(self.picks, key=lambda n: self.picks[n])]
        self.picks[name] += 1

    def _decided(self, request: BrokerRequest, reply: Reply, client: str, now: float) -> None:
        live = self.live()
        servers = live.view.servers(now) if live is not None else []
        heard = {key for key, _ in servers}
        known = list(live.discovered.items()) if live is not None else []
        absent = [key for key, _ in known if key not in heard]
        hosts = reply.body.decode("ascii", "replace").split() if reply.status == 200 else []
        decision = decisions.explain(
            request, servers, hosts, absent=absent, client=client, status=reply.status, at=time.time()
        )
        self.decisions.add(decision)
        if decision_log.isEnabledFor(logging.DEBUG):
            decision_log.debug("%s", decision.line())

    # -- the pages ---------------------------------------------------------------------
    async def page(self, method: bytes, target: bytes, client: str) -> Reply:
        """The answer to a request for a monitoring page (never one that changes anything)."""
        loop = asyncio.get_running_loop()
        if not self.limiter.allow(client, loop.time()):
            self.counters["page_rate_limited"] += 1
            return answer.refusal(429, "too many page requests from this address; reload in a second")
        try:
            wanted = routes.decode(method, target)
        except BadRequest as exc:
            self.counters[f"page_refused_{exc.status}"] += 1
            return answer.refusal(exc.status, exc.reason)
        self.page_counts[PAGE_NAMES[wanted.page]] += 1
        cached = self._cache.get(wanted.page) if wanted.client is None else None
        if cached is not None and loop.time() - cached[0] < RENDER_CACHE_S:
            return cached[1]
        if wanted.page is Page.METRICS and not self._metrics_loaded:
            try:
                await asyncio.to_thread(metrics.load)
            except ImportError:
                log.warning(
                    "cannot answer /metrics: install python3-prometheus-client (pip: prometheus_client)"
                )
                return answer.refusal(503, "prometheus_client is not installed on this server")
            self._metrics_loaded = True
        live = self.live()
        if live is not None:
            await live.ready(loop.time() + PAGE_WAIT_S)
        try:
            reply = self.render(wanted, loop.time())
        except Exception:  # a bug in a page must cost the page, never the broker beside it
            self.counters["page_failed"] += 1
            log.exception("could not render %s", wanted.page.value)
            return answer.refusal(500, "the page could not be made; the server's journal says why")
        if wanted.client is None and reply.status == 200:
            self._cache[wanted.page] = (loop.time(), reply)
        return reply

    def render(self, wanted: PageRequest, now: float) -> Reply:
        """The page `wanted` from the mesh as it is at `now` (loop time); no I/O."""
        wall = time.time()
        live = self.live()
        look = mesh_status.look(live, now, wall) if live is not None else mesh_status.NOTHING
        if wanted.page is Page.STATUS:
            data = page.PageData(
                host=self.host,
                at=wall,
                utc_offset_s=time.localtime(wall).tm_gmtoff,
                view_age_s=look.view_age_s,
                rows=look.rows,
                history=self.history,
                fair_share=look.fair_share,
                decisions=self._decisions(wanted.client, PAGE_DECISIONS),
                client=wanted.client,
            )
            return Reply(200, HTML_TYPE, page.render(data))
        if wanted.page is Page.METRICS:
            data_in = metrics.MetricsInput(
                own=self.own(),
                counters=self.counters,
                picks=self.picks,
                answer_times=self.answer_times,
                rows=look.rows,
                fair_share=look.fair_share,
                view_age_s=look.view_age_s,
                pages=self.page_counts,
            )
            return Reply(200, metrics.CONTENT_TYPE, metrics.exposition(data_in))
        if wanted.page is Page.STATUS_JSON:
            message = mesh.to_message(look.rows, wall)
            message["host"] = self.host
            message["view_age_ms"] = None if look.view_age_s is None else round(look.view_age_s * 1000, 1)
            return Reply(200, JSON_TYPE, (json.dumps(message, sort_keys=True) + "\n").encode())
        found = self._decisions(wanted.client, decisions.MAX_RECENT)
        document = {
            "v": 1,
            "host": self.host,
            "client": wanted.client,
            "decisions": [d.to_json() for d in found],
        }
        return Reply(200, JSON_TYPE, (json.dumps(document, sort_keys=True) + "\n").encode())

    def _decisions(self, client: str | None, limit: int) -> list[decisions.Decision]:
        if client is None:
            return self.decisions.recent(limit)
        latest = self.decisions.of(client)
        return [latest] if latest is not None else []
