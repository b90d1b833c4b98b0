"""`medbot fleet run` assembled: the service on its store, the MQTT link, the HTTP API, the loop.

`FleetRuntime` owns the service's life in a process: it builds the service (config, site map, task
store, demand sources), connects the link, serves the API on a background thread and steps the
service every ``step_period_s`` of its clock until `stop()`. One thread steps; the link's network
thread and the API's threads only queue messages or call the service's thread-safe methods.

The step loop acknowledges the MQTT messages a step handled only after that step returned — and a
step commits to the store before it sends — so a message the broker considers delivered is always
in the store (see fleet/mqtt_link.py). A step that raises (the store failed) ends the loop and the
process with an error: a supervisor restarts it, and the restart resumes from the store with the
unacknowledged messages redelivered, which is safer than carrying on half-committed.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.census import with_census
from fleet.clock import ScaledClock
from fleet.config import FleetConfig
from fleet.demand import DemandContext, DemandError, load_demand_factory
from fleet.http_api import ApiAccount, ApiAuthenticator, create_app
from fleet.mqtt_link import FleetLink
from fleet.service import FleetService
from fleet.site import SiteMap
from fleet.store import TaskStore
from fleet.tasks import OPEN_STATES

log = logging.getLogger(__name__)

#: a status line at most this often (wall seconds)
STATUS_PERIOD_S = 60.0


@dataclass
class HttpSettings:
    host: str
    port: int  # 0: a free port (the chosen one is in FleetRuntime.http_url)
    accounts: dict[str, ApiAccount]
    startup_timeout_s: float = 10.0


@dataclass
class FleetRuntime:
    config: FleetConfig
    site: SiteMap
    store_url: str
    link: FleetLink
    clock: ScaledClock
    site_id: str
    http: HttpSettings | None = None
    #: the hospital's information systems for demand sources that need them (none on a plain run)
    hospital: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        self.service = FleetService(self.config, self.site, TaskStore(self.store_url), self.link,
                                    site_id=self.site_id)
        start_s = self.clock.now_s()
        # who lies in which bed comes from the HIS link's census topic (fleet/census.py)
        hospital = with_census(self.hospital, self.service.census)
        try:
            for name, settings in sorted(self.config.demand.items()):
                ctx = DemandContext(site=self.site, seed=self.seed, start_s=start_s, end_s=None,
                                    submit=functools.partial(self.service.submit_from_source, name),
                                    hospital=hospital)
                self.service.add_source(load_demand_factory(name)(ctx, settings))
        except DemandError:
            self.service.close()
            raise
        self._stop = threading.Event()
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self.http_url: str | None = None
        self.steps = 0
        self._closed = False
        self.max_step_s = 0.0  # the longest step, wall seconds (a loop that cannot keep up shows here)

    # ---- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect the link (bounded; raises on failure), then serve the API."""
        self.link.start(self.service.on_message)
        if self.http is not None:
            try:
                self._start_http(self.http)
            except Exception:
                self.link.close()
                raise

    def stop(self) -> None:
        """Ask the loop to end (signal handlers call this)."""
        self._stop.set()

    def run(self) -> None:
        """Step until `stop()`; then a last step (queued messages handled and committed), the API
        shut, OFFLINE on the link, the store closed."""
        period_s = self.config.step_period_s
        next_s = self.clock.now_s()
        last_status = time.monotonic()
        try:
            while not self._stop.is_set():
                self._step()
                next_s += period_s
                now_s = self.clock.now_s()
                if next_s < now_s - period_s:
                    next_s = now_s  # fell behind (a long step): carry on from now, no burst of steps
                if time.monotonic() - last_status >= STATUS_PERIOD_S:
                    last_status = time.monotonic()
                    self._log_status()
                self._stop.wait(self.clock.wall_seconds(max(0.0, next_s - now_s)))
            self._step()
        finally:
            self._shutdown()

    def _step(self) -> None:
        pending = self.link.take_received()
        started = time.monotonic()
        self.service.step(self.clock.now_s())
        self.max_step_s = max(self.max_step_s, time.monotonic() - started)
        self.steps += 1
        self.link.acknowledge(pending)  # only now: the step committed what these messages changed

    def close(self) -> None:
        """Release everything without stepping (after a failed `start`); `run` ends with it too."""
        self._shutdown()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(5.0)
        try:
            self.link.close()
        finally:
            self.service.close()

    def _log_status(self) -> None:
        open_tasks = self.service.tasks(OPEN_STATES)
        robots = self.service.robots()
        stats = self.link.stats
        log.info("fleet: %d open tasks, %d/%d robots online, link %s, %d steps (longest %.0f ms)",
                 len(open_tasks), sum(r.online for r in robots), len(robots),
                 "up" if self.link.connected else "DOWN", self.steps, self.max_step_s * 1000)
        if stats.rejected:
            log.info("fleet: %d messages rejected so far (%s)", stats.rejected, dict(self.link.rejections))

    # ---- the API ------------------------------------------------------------------------------

    def _start_http(self, http: HttpSettings) -> None:
        import uvicorn  # only when the API is asked for

        app = create_app(self.service, ApiAuthenticator(http.accounts), self.clock.now_s)
        sock = socket.socket(socket.AF_INET6 if ":" in http.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((http.host, http.port))
        host = f"[{http.host}]" if ":" in http.host else http.host
        self.http_url = f"http://{host}:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="medbot-fleet-api",
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + http.startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"fleet API did not start on {self.http_url} within {http.startup_timeout_s} s")
            time.sleep(0.02)
        self._server, self._server_thread = server, thread


def default_store_url(site_id: str) -> str:
    return f"sqlite:///{Path.cwd() / f'medbot-fleet-{site_id}.db'}"
