"""VDA 5050 vehicles in the fleet: the master-control side of the standard, next to medbot's robots.

`Vda5050Adapter` sits between the `FleetService` and its `Outbox`. It subscribes to every vehicle's
``state``, ``connection`` and ``factsheet`` under ``<interface>/v2/+/+/`` (or one manufacturer's)
and hands the service, for each vehicle, the medbot contract messages a robot would publish
(`fleet.vda5050.vehicle.VehicleTracker` translates). The service's commands to a vehicle's robot id
come back through `publish` and go out as VDA 5050 orders and instant actions; everything else the
service publishes goes on to the inner outbox (the medbot robots' `FleetLink`) unchanged. So the
service needs to know nothing of VDA 5050: a vehicle is a robot whose factsheet offers
``transport`` (and ``supply_delivery`` when it can pick and drop).

Every VDA 5050 message in and out is checked against the official 2.1.0 schemas
(`telemetry.vda5050`), and every medbot body handed to the service against the medbot contract
(`telemetry.codec.MessageEncoder.prepare`): a translation that breaks it is a bug, logged, not
handed on. Stamps are the fleet's clock at receipt (a vehicle's wall-clock timestamps may disagree
with a scaled fleet clock).

`tick(now_s)` (every step: `MixedFleetLink.take_received`) sends again what a vehicle has not
acknowledged in its state — orders and instant actions are QoS 0, as the standard asks.

`MixedFleetLink` is a `FleetLink` with the adapter inside: ``medbot fleet run --vda5050 FILE``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pydantic
import yaml

from fleet.mqtt_link import FleetLink, MessageHandler
from fleet.site import SiteMap
from fleet.vda5050.vehicle import Medbot, Vda, VehicleSettings, VehicleTracker, robot_id_for
from telemetry.codec import MessageEncoder
from telemetry.topics import Channel, check_segment
from telemetry.validate import PayloadError
from telemetry.vda5050 import Topic, TopicParts, VehicleId, subscription, topic_for
from telemetry.vda5050.client import Vda5050Client

log = logging.getLogger(__name__)


class Outbox(Protocol):
    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None: ...


class VehicleEntry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    robot_id: str | None = pydantic.Field(None, pattern=r"^[a-z0-9-]{1,64}$")
    kind: str | None = pydantic.Field(None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    serves: str | None = None
    home_dock: str | None = None


class Vda5050Settings(pydantic.BaseModel):
    """``--vda5050 vda5050.yaml``: which vehicles, on which broker, and how orders are cut."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    #: the VDA 5050 broker (default: the fleet's own)
    broker: str | None = None
    interface: str = "uagv"
    #: only this manufacturer's vehicles (default: every vehicle under the interface)
    manufacturer: str | None = None
    #: floor -> the mapId vehicles use for it (default ``level-<floor>``)
    map_ids: dict[int, str] = {}
    #: nodes released beyond the vehicle's node in each order and update (the rest is the horizon)
    base_nodes: int = pydantic.Field(3, ge=1, le=100)
    #: an order or update not yet in the vehicle's state is sent again after this (s)
    resend_s: float = pydantic.Field(5.0, gt=0)
    #: the robot kind vehicles appear as (tasks may name it in robot_kinds)
    kind: str = pydantic.Field("agv", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    #: "<manufacturer>/<serialNumber>" -> its robot id, kind, station, dock
    vehicles: dict[str, VehicleEntry] = {}
    client_id: str | None = None
    username: str | None = None
    password: str | None = None


def load_vda5050_settings(path: str | Path) -> Vda5050Settings:
    """``--vda5050 FILE`` (YAML); ValueError naming the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Vda5050Settings.model_validate(data)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{path}: {'.'.join(str(p) for p in first['loc']) or '<top>'}: {first['msg']}") from None


class Vda5050Adapter:
    def __init__(self, settings: Vda5050Settings, site: SiteMap, site_id: str, inner: Outbox, *,
                 broker_url: str, clock_s: Callable[[], float], connect_timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.site = site
        self.site_id = check_segment(site_id, "site")
        self.inner = inner
        self.clock_s = clock_s
        self.client = Vda5050Client(settings.broker or broker_url, interface=settings.interface,
                                    client_id=settings.client_id or f"medbot-fleet-{site_id}-vda5050",
                                    username=settings.username, password=settings.password,
                                    connect_timeout_s=connect_timeout_s)
        self._handler: MessageHandler | None = None
        self._lock = threading.RLock()
        self._vehicles: dict[VehicleId, VehicleTracker] = {}
        self._by_robot: dict[str, VehicleTracker] = {}
        self._encoders: dict[str, MessageEncoder] = {}
        self.dropped = 0

    # ---- life ---------------------------------------------------------------------------------

    def start(self, handler: MessageHandler) -> None:
        self._handler = handler
        s = self.settings
        filters = [subscription(t, interface=s.interface, manufacturer=s.manufacturer)
                   for t in (Topic.FACTSHEET, Topic.CONNECTION, Topic.STATE)]
        self.client.start(filters, self._on_vda)

    def close(self) -> None:
        self.client.close()

    def trackers(self) -> list[VehicleTracker]:
        with self._lock:
            return [self._vehicles[v] for v in sorted(self._vehicles, key=str)]

    def tracker(self, robot_id: str) -> VehicleTracker | None:
        with self._lock:
            return self._by_robot.get(robot_id)

    # ---- the service's outbox -----------------------------------------------------------------

    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        with self._lock:
            tracker = self._by_robot.get(robot_id)
            if tracker is None:
                self.inner.publish(robot_id, channel, body, stamp_s)
                return
            if channel is not Channel.COMMANDS:
                return  # nothing else is addressed to one robot
            now_s = self.clock_s()
            medbot, vda = tracker.on_command(body, now_s)
        self._emit(tracker, medbot, vda, now_s)

    def tick(self, now_s: float) -> None:
        with self._lock:
            due = [(t, t.resend_due(now_s)) for t in self._vehicles.values()]
        for tracker, vda in due:
            self._emit(tracker, [], vda, now_s)

    # ---- VDA 5050 in (network thread) ---------------------------------------------------------

    def _on_vda(self, parts: TopicParts, msg: dict[str, Any]) -> None:
        now_s = self.clock_s()
        with self._lock:
            tracker = self._tracker_for(parts.vehicle)
            vda: list[Vda] = []
            if parts.topic is Topic.FACTSHEET:
                medbot = tracker.on_factsheet(msg)
            elif parts.topic is Topic.CONNECTION:
                medbot, vda = tracker.on_connection(msg, now_s)
            else:
                medbot, vda = tracker.on_state(msg, now_s)
        self._emit(tracker, medbot, vda, now_s)

    def _tracker_for(self, vehicle: VehicleId) -> VehicleTracker:
        tracker = self._vehicles.get(vehicle)
        if tracker is None:
            entry = self.settings.vehicles.get(str(vehicle)) or VehicleEntry()
            robot_id = entry.robot_id or robot_id_for(vehicle)
            settings = VehicleSettings(kind=entry.kind or self.settings.kind, serves=entry.serves,
                                       home_dock=entry.home_dock)
            tracker = VehicleTracker(vehicle, robot_id, self.site, settings=settings, map_ids=self.settings.map_ids,
                                     base_nodes=self.settings.base_nodes, resend_s=self.settings.resend_s)
            self._vehicles[vehicle] = tracker
            self._by_robot[robot_id] = tracker
            log.info("vda5050: vehicle %s is robot %s", vehicle, robot_id)
        return tracker

    def _emit(self, tracker: VehicleTracker, medbot: list[Medbot], vda: list[Vda], now_s: float) -> None:
        for topic, message in vda:
            self.client.publish(topic_for(tracker.vehicle, topic, interface=self.settings.interface), topic, message)
        handler = self._handler
        for channel, body in medbot:
            encoder = self._encoders.get(tracker.robot_id)
            if encoder is None:
                encoder = self._encoders[tracker.robot_id] = MessageEncoder(self.site_id, tracker.robot_id)
            try:
                encoder.prepare(channel, body, now_s)  # the medbot contract, as a robot's sink would check it
            except (PayloadError, ValueError) as exc:
                self.dropped += 1
                log.error("vda5050: %s for %s breaks the medbot contract, not handed on: %s", channel,
                          tracker.robot_id, exc)
                continue
            if handler is not None:
                handler(tracker.robot_id, channel.value, body, now_s)


class MixedFleetLink(FleetLink):
    """The fleet's MQTT link with VDA 5050 vehicles beside the medbot robots."""

    def __init__(self, broker_url: str, site: str, settings: Vda5050Settings, site_map: SiteMap, *,
                 clock_s: Callable[[], float], **link_options: Any) -> None:
        super().__init__(broker_url, site, clock_s=clock_s, **link_options)
        self.vda5050 = Vda5050Adapter(settings, site_map, site, _Inner(self), broker_url=broker_url, clock_s=clock_s,
                                      connect_timeout_s=self.connect_timeout_s)
        self._fleet_clock_s = clock_s

    def start(self, handler: MessageHandler) -> None:
        super().start(handler)
        try:
            self.vda5050.start(handler)
        except Exception:
            super().close()
            raise

    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        self.vda5050.publish(robot_id, channel, body, stamp_s)

    def take_received(self) -> list[Any]:
        self.vda5050.tick(self._fleet_clock_s())  # called by the step loop before every step
        return super().take_received()

    def close(self, timeout_s: float = 5.0) -> None:
        self.vda5050.close()
        super().close(timeout_s)


class _Inner:
    """The medbot side of a MixedFleetLink: FleetLink's own publish."""

    def __init__(self, link: FleetLink) -> None:
        self._link = link

    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        FleetLink.publish(self._link, robot_id, channel, body, stamp_s)
