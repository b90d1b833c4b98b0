"""The bridge's two MQTT sides: the robot's medbot contract and the VDA 5050 vehicle topics.

It talks to the robot only through the contract (the robot's ``commands`` topic, as the fleet
does, so the robot's command processor checks the bridge's account, its role and idempotency), and
so runs beside `medbot robot run`, the simulator's robots or a robot on hardware alike. On the VDA
5050 side it is the vehicle ``<manufacturer>/<serialNumber>``: ``connection`` ONLINE on every
connect with the Last Will CONNECTIONBROKEN and OFFLINE on a clean stop, its ``factsheet``
(retained), ``state`` on every change of the robot (at most every ``min_state_s``) and at least every
``state_period_s``; it takes ``order`` and ``instantActions`` on its own topics only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from robots.vda5050_bridge.core import BridgeCore
from telemetry.codec import MessageEncoder
from telemetry.topics import Channel, parse_topic, topic_for
from telemetry.url import parse_broker_url
from telemetry.validate import PayloadError, validate
from telemetry.vda5050 import Topic, TopicParts
from telemetry.vda5050 import topic_for as vda_topic
from telemetry.vda5050.client import Vda5050Client

log = logging.getLogger(__name__)

ROBOT_CHANNELS = (Channel.FACTSHEET, Channel.CONNECTION, Channel.STATE, Channel.EVENTS, Channel.COMMANDS_ACK)


class Vda5050Bridge:
    def __init__(self, core: BridgeCore, broker_url: str, *, vda_broker_url: str | None = None,
                 interface: str = "uagv", username: str | None = None, password: str | None = None,
                 state_period_s: float = 10.0, min_state_s: float = 0.2,
                 clock_s: Callable[[], float] = time.time, connect_timeout_s: float = 10.0) -> None:
        self.core = core
        self.interface = interface
        self.clock_s = clock_s
        self.state_period_s = state_period_s
        self.min_state_s = min_state_s
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.RLock()
        self._encoder = MessageEncoder(core.site, core.robot_id)
        self._address = parse_broker_url(broker_url)
        self._medbot = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"medbot-vda5050-{core.robot_id}")
        if username is not None:
            self._medbot.username_pw_set(username, password)
        self._medbot.on_connect = self._on_medbot_connect
        self._medbot.on_message = self._on_medbot_message
        self._medbot_ready = threading.Event()
        self.vda = Vda5050Client(vda_broker_url or broker_url, interface=interface,
                                 client_id=f"vda5050-{core.vehicle.manufacturer}-{core.vehicle.serial_number}",
                                 connect_timeout_s=connect_timeout_s)
        self._topics = {t: vda_topic(core.vehicle, t, interface=interface) for t in Topic}
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._thread: threading.Thread | None = None
        self.commands_sent = 0

    # ---- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Both connections up (bounded), then the state loop."""
        self._medbot.connect_async(self._address.host, self._address.port, keepalive=15)
        self._medbot.loop_start()
        if not self._medbot_ready.wait(self.connect_timeout_s):
            self._medbot.loop_stop()
            raise TimeoutError(f"VDA 5050 bridge: no connection to {self._address.url} within "
                               f"{self.connect_timeout_s} s")
        now = self.clock_s()
        self.vda.set_will(self._topics[Topic.CONNECTION], Topic.CONNECTION,
                          self.core.connection_message("CONNECTIONBROKEN", now))
        self.vda.publish_on_connect(self._topics[Topic.CONNECTION], Topic.CONNECTION,
                                    lambda: self.core.connection_message("ONLINE", self.clock_s()))
        self.vda.publish_on_connect(self._topics[Topic.FACTSHEET], Topic.FACTSHEET,
                                    lambda: self.core.factsheet_message(self.clock_s()))
        self.vda.start([self._topics[Topic.ORDER], self._topics[Topic.INSTANT_ACTIONS]], self._on_vda)
        self._thread = threading.Thread(target=self._state_loop, name="vda5050-bridge-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            offline = self.core.connection_message("OFFLINE", self.clock_s())
        self.vda.close(last=(self._topics[Topic.CONNECTION], Topic.CONNECTION, offline))
        self._medbot.disconnect()
        self._medbot.loop_stop()

    # ---- VDA 5050 in --------------------------------------------------------------------------

    def _on_vda(self, parts: TopicParts, msg: dict[str, Any]) -> None:
        if parts.vehicle != self.core.vehicle:
            return
        with self._lock:
            if parts.topic is Topic.ORDER:
                commands = self.core.on_order(msg)
            else:
                commands = self.core.on_instant_actions(msg)
                if any(a["actionType"] == "factsheetRequest" for a in msg["actions"]):
                    self.vda.publish(self._topics[Topic.FACTSHEET], Topic.FACTSHEET,
                                     self.core.factsheet_message(self.clock_s()))
        for body in commands:
            self._send_command(body)
        self._dirty.set()

    def _send_command(self, body: dict[str, Any]) -> None:
        try:
            wire = self._encoder.encode(Channel.COMMANDS, body, self.clock_s())
        except (PayloadError, ValueError) as exc:
            log.error("vda5050 bridge: command not sent: %s", exc)
            return
        self._medbot.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain)
        self.commands_sent += 1

    # ---- the robot's contract in --------------------------------------------------------------

    def _on_medbot_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                           properties: Any) -> None:
        if reason_code.is_failure:
            log.error("vda5050 bridge: broker refused the connection: %s", reason_code)
            return
        client.subscribe([(topic_for(self.core.site, self.core.robot_id, ch), 1) for ch in ROBOT_CHANNELS])
        self._medbot_ready.set()

    def _on_medbot_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            parts = parse_topic(message.topic)
            envelope = json.loads(message.payload)
            validate(parts.channel, envelope, topic=message.topic)
        except (ValueError, PayloadError) as exc:
            log.warning("vda5050 bridge: dropped %s: %s", message.topic, exc)
            return
        with self._lock:
            self.core.on_robot(parts.channel.value, envelope["body"])
        if parts.channel is Channel.FACTSHEET:
            factsheet = self.core.factsheet_message(self.clock_s())
            self.vda.publish(self._topics[Topic.FACTSHEET], Topic.FACTSHEET, factsheet)
        self._dirty.set()

    # ---- VDA 5050 state out -------------------------------------------------------------------

    def _state_loop(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self._dirty.wait(self.state_period_s)
            if self._stop.is_set():
                break
            wait = self.min_state_s - (time.monotonic() - last)
            if wait > 0:
                self._stop.wait(wait)  # at most one state per min_state_s: the robot's pose changes every tick
            self._dirty.clear()
            with self._lock:
                state = self.core.state_message(self.clock_s())
            self.vda.publish(self._topics[Topic.STATE], Topic.STATE, state)
            last = time.monotonic()
