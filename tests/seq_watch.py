"""A test's MQTT consumer that records the ``seq`` of every message on one topic, as it arrives."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class SeqWatch:
    """Subscribed (QoS 1) before the constructor returns. ``persistent``: a persistent session that
    re-subscribes on every reconnect, as the data center's consumer does, so a broker that keeps
    sessions queues for it while it is away."""

    def __init__(self, host: str, port: int, topic: str, client_id: str, *, persistent: bool = False,
                 wait_s: float = 20.0) -> None:
        self.seqs: list[int] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                                  clean_session=not persistent)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(wait_s), "no SUBACK"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.seqs.append(json.loads(message.payload)["header"]["seq"])

    def snapshot(self) -> list[int]:
        """Every arrival, repeats included."""
        with self._lock:
            return list(self.seqs)

    def first_seen(self) -> list[int]:
        """Each seq once, in the order it first arrived (at-least-once: a repeat counts once)."""
        return list(dict.fromkeys(self.snapshot()))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
