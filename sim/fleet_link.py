"""The fleet service inside `medbot sim`: in-process, on a loopback of the MQTT contract.

Why in-process and not a child process on the embedded broker: a seed must reproduce a run
exactly, and a broker between the robots and the fleet delivers on its own schedule, not the
simulated clock's. The loopback keeps the contract — the service sees exactly the bodies robots
publish on factsheet, connection, state, events, clinical, alerts and commands/ack (already
validated against the schemas by the robots' sinks), and its commands reach each robot as encoded
`commands` messages through the robot's own command processor (schema, role, idempotency, audit)
— but delivers them on the tick, in order. With a broker (`--broker`), the robots' messages also
go out over MQTT as before, and so do the fleet's task states and alerts (dashboards and the data
center see them); `medbot fleet run` is the same service over real MQTT (tests/fleet).

It also plays the broker's part in failures: a robot that dies gets its Last Will published
(CONNECTION_BROKEN), and while the service is down (`kill`) the robots' messages wait in its
persistent session and are delivered, after the retained factsheets and connections, when it
comes back.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fleet.census import with_census
from fleet.config import FleetConfig
from fleet.demand import DemandContext, load_demand_factory
from fleet.service import FleetService
from fleet.site import SiteMap
from fleet.store import TaskStore
from telemetry.commands import CommandEncoder
from telemetry.envelope import iso_timestamp
from telemetry.sinks import TelemetrySink
from telemetry.topics import FLEET_ID, Channel
from telemetry.validate import PayloadError, validate

log = logging.getLogger(__name__)

#: what the fleet service subscribes to (viz and media are not its business)
FLEET_CHANNELS = frozenset({Channel.FACTSHEET.value, Channel.CONNECTION.value, Channel.STATE.value,
                            Channel.EVENTS.value, Channel.CLINICAL.value, Channel.ALERTS.value,
                            Channel.COMMANDS_ACK.value, Channel.TRAFFIC.value})
RETAINED = frozenset({Channel.FACTSHEET.value, Channel.CONNECTION.value, Channel.CENSUS.value})

Message = tuple[str, str, dict[str, Any], float]


class FleetTap:
    """A robot's telemetry sink that also hands the fleet's channels to the loopback, and the
    robot's command subscription (the MQTT one too, when there is a broker)."""

    def __init__(self, inner: TelemetrySink, site: str, robot_id: str, link: LoopbackFleet) -> None:
        self._inner = inner
        self.site = site
        self.robot_id = robot_id
        self._link = link

    def publish(self, channel: Any, body: dict[str, Any], stamp_s: float) -> None:
        self._inner.publish(channel, body, stamp_s)
        name = str(getattr(channel, "value", channel))
        if name in FLEET_CHANNELS:
            self._link.deliver(self.robot_id, name, body, stamp_s)

    def subscribe_commands(self, callback: Callable[[str, bytes], None]) -> None:
        self._link.command_callbacks[self.robot_id] = callback
        subscribe = getattr(self._inner, "subscribe_commands", None)
        if subscribe is not None:
            subscribe(callback)  # operators over MQTT as well

    def subscribe_traffic(self, callback: Callable[[dict[str, Any], float], None]) -> None:
        """The fleet's grant table, as every robot on the site reads it."""
        self._link.traffic_callbacks[self.robot_id] = callback

    def close(self) -> None:
        self._inner.close()


@dataclass
class FleetSetup:
    """What it takes to (re)build the service — a restart builds a new one from the same store."""

    config: FleetConfig
    site: SiteMap
    site_id: str
    store_path: Path
    seed: int
    start_s: float
    end_s: float
    hospital: dict[str, Any]
    #: the fleet's own messages (task states, alerts) as JSON lines, for the report; None: not kept
    messages_path: Path | None = None


class LoopbackFleet:
    def __init__(self, setup: FleetSetup, *, fleet_sink: TelemetrySink | None = None) -> None:
        self.setup = setup
        self.command_callbacks: dict[str, Callable[[str, bytes], None]] = {}
        self.traffic_callbacks: dict[str, Callable[[dict[str, Any], float], None]] = {}
        self._encoders: dict[str, CommandEncoder] = {}
        self._fleet_sink = fleet_sink
        self._retained: dict[tuple[str, str], Message] = {}
        self._session: list[Message] = []  # delivered while the service is down
        self.service: FleetService | None = None
        self.restarts = 0
        self.published: dict[str, int] = {}
        #: other subscribers on the loopback: every message delivered to the fleet (robots' clinical
        #: records for the simulated HIS link's results), and the fleet's own publications (task states)
        self.taps: list[Callable[[str, str, dict[str, Any], float], None]] = []
        self.fleet_taps: list[Callable[[Channel, dict[str, Any], float], None]] = []
        self._log = None if setup.messages_path is None else setup.messages_path.open("w", encoding="utf-8")
        subscribe = getattr(fleet_sink, "subscribe_commands", None)
        if subscribe is not None:  # a broker: operators' requests (the dashboard) reach the fleet too
            subscribe(self._on_request)
        self._start()

    def _on_request(self, topic: str, payload: bytes) -> None:
        """A tasks/request from the broker (delivered on the simulator's thread): validated like
        anything else that crosses a process boundary, then queued for the service."""
        try:
            envelope = json.loads(payload)
            validate(Channel.TASK_REQUESTS, envelope, topic=topic)
        except (ValueError, PayloadError) as exc:
            log.warning("fleet: request on %s refused: %s", topic, exc)
            return
        stamp = envelope["header"]["timestamp"]
        self.deliver(FLEET_ID, Channel.TASK_REQUESTS.value, envelope["body"],
                     datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())

    # ---- the service's life -----------------------------------------------------------------

    def _start(self) -> None:
        s = self.setup
        service = FleetService(s.config, s.site, TaskStore(s.store_path), self, site_id=s.site_id)
        # the HIS feed's census reaches the service as the retained his/census message (deliver)
        hospital = with_census(s.hospital, service.census)
        for name, settings in sorted(s.config.demand.items()):
            ctx = DemandContext(site=s.site, seed=s.seed, start_s=s.start_s, end_s=s.end_s,
                                submit=functools.partial(service.submit_from_source, name), hospital=hospital)
            service.add_source(load_demand_factory(name)(ctx, settings))
        self.service = service
        # what a new subscriber gets first from the broker: the retained messages, then its session
        for message in sorted(self._retained.values(), key=lambda m: (m[3], m[0], m[1])):
            service.on_message(*message)
        for message in self._session:
            service.on_message(*message)
        self._session = []

    def kill(self) -> None:
        """kill -9: the service stops mid-flight; whatever it had not committed is gone."""
        if self.service is not None:
            self.service.store.close()
            self.service = None

    def restart(self) -> None:
        self.restarts += 1
        self._start()

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None
        if self._log is not None:
            self._log.close()
            self._log = None

    # ---- robots -> fleet --------------------------------------------------------------------

    def deliver(self, robot_id: str, channel: str, body: dict[str, Any], stamp_s: float) -> None:
        message = (robot_id, channel, body, stamp_s)
        for tap in self.taps:
            tap(robot_id, channel, body, stamp_s)
        if channel in RETAINED:
            self._retained[(robot_id, channel)] = message
        if self.service is None:
            if channel not in RETAINED:
                self._session.append(message)
            return
        self.service.on_message(*message)

    def step(self, now_s: float) -> None:
        if self.service is not None:
            self.service.step(now_s)

    # ---- fleet -> robots (the service's Outbox) ---------------------------------------------

    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        self.published[channel.value] = self.published.get(channel.value, 0) + 1
        if robot_id == FLEET_ID:
            if self._fleet_sink is not None:
                self._fleet_sink.publish(channel, body, stamp_s)
            for fleet_tap in self.fleet_taps:
                fleet_tap(channel, body, stamp_s)
            if channel is Channel.TRAFFIC:  # the grant table: to every robot, not to the report log
                for rid in sorted(self.traffic_callbacks):
                    self.traffic_callbacks[rid](body, stamp_s)
                return
            if self._log is not None:
                self._log.write(json.dumps({"t": iso_timestamp(stamp_s), "channel": channel.value, "body": body},
                                           sort_keys=True) + "\n")
            return
        if channel is not Channel.COMMANDS:
            return
        callback = self.command_callbacks.get(robot_id)
        if callback is None:
            log.warning("fleet: no command path to %s; command %s dropped", robot_id, body.get("command_id"))
            return
        encoder = self._encoders.get(robot_id)
        if encoder is None:
            encoder = self._encoders[robot_id] = CommandEncoder(self.setup.site_id, robot_id)
        wire = encoder.encode(body, stamp_s)
        callback(wire.topic, wire.payload)
