"""A whole simulated fleet's MQTT publishers in one child process.

In `medbot sim` every robot still has its own MQTT connection (own client id, Last Will, ONLINE /
OFFLINE, per-topic sequence numbers) exactly as on a robot. But paho's network threads and the
schema validation would share the simulator's core and GIL; here they run on the other core. The
simulator hands messages over in batches (`flush()` once per simulated second or so), in order.
Validation failures in the child are counted and reported at `close()`, never silently dropped.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from telemetry.child_process import ChildProcess
from telemetry.topics import FLEET_ID, Channel, as_channel

Message = tuple[str, str, dict[str, Any], float]  # robot_id, channel, body, stamp_s


@dataclass
class GatewayReport:
    published: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # "robot/channel" -> count
    first_errors: list[str] = field(default_factory=list)  # a few messages, for the log


def _serve(conn: Connection, broker_url: str, site: str, robot_ids: list[str], validate: bool,
           spool_dir: str | None) -> None:
    from telemetry.publisher import TelemetryPublisher

    # each robot's at-least-once channels go through its store-and-forward spool, as on a robot:
    # a broker that drops a connection loses nothing
    publishers = {
        rid: TelemetryPublisher(broker_url, site, rid, validate=validate,
                                spool=None if spool_dir is None else Path(spool_dir) / f"{rid}.spool.db")
        for rid in robot_ids
    }
    report = GatewayReport()
    errors: Counter[str] = Counter()
    send_lock = threading.Lock()  # paho's threads forward commands while the main thread reports

    def forward(robot_id: str) -> Callable[[str, bytes], None]:
        def on_command(topic: str, payload: bytes) -> None:
            with send_lock:
                conn.send(("command", robot_id, topic, payload))
        return on_command

    try:
        for robot_id, publisher in publishers.items():
            # the fleet service's own id takes requests for work; a robot takes commands
            inbound = Channel.TASK_REQUESTS if robot_id == FLEET_ID else Channel.COMMANDS
            publisher.subscribe_commands(forward(robot_id), channel=inbound)
            publisher.connect()
        with send_lock:
            conn.send(("ready", None))
        while True:
            batch = conn.recv()
            if batch is None:
                break
            for robot_id, channel, body, stamp_s in batch:
                try:
                    publishers[robot_id].publish(channel, body, stamp_s)
                    report.published += 1
                except Exception as exc:  # reported to the parent at close, never lost silently
                    errors[f"{robot_id}/{channel}"] += 1
                    if len(report.first_errors) < 10:
                        report.first_errors.append(f"{robot_id}/{channel}: {exc}")
    except EOFError:
        pass  # the parent died: close cleanly below
    except Exception as exc:
        with send_lock:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    finally:
        for publisher in publishers.values():
            try:
                publisher.close(timeout_s=5.0)
            except Exception as exc:
                report.first_errors.append(f"close {publisher.robot_id}: {exc}")
    report.errors = dict(errors)
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(("done", report))


class GatewaySink:
    """One robot's `TelemetrySink` onto the gateway."""

    def __init__(self, gateway: TelemetryGateway, robot_id: str) -> None:
        self._gateway = gateway
        self.site = gateway.site
        self.robot_id = robot_id

    def publish(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> None:
        self._gateway.enqueue((self.robot_id, as_channel(channel).value, body, stamp_s))

    def subscribe_commands(self, callback: Callable[[str, bytes], None]) -> None:
        """The robot's `commands` topic, delivered on the simulator's thread at each `flush()`."""
        self._gateway.on_command(self.robot_id, callback)

    def close(self) -> None:
        """The gateway closes every robot's connection at once (`TelemetryGateway.close`)."""


class TelemetryGateway:
    def __init__(self, broker_url: str, site: str, robot_ids: list[str], *, validate: bool = True,
                 batch_size: int = 500, spool_dir: Path | None = None) -> None:
        self._args = (broker_url, site, list(robot_ids), validate, None if spool_dir is None else str(spool_dir))
        self._batch: list[Message] = []
        self._batch_size = batch_size
        self._child = ChildProcess(_serve, self._args, name="medbot-telemetry", what="telemetry gateway")
        self._command_callbacks: dict[str, Callable[[str, bytes], None]] = {}
        self.site = site

    def on_command(self, robot_id: str, callback: Callable[[str, bytes], None]) -> None:
        self._command_callbacks[robot_id] = callback

    def start(self, timeout_s: float = 30.0) -> TelemetryGateway:
        self._child.start(timeout_s)
        return self

    @property
    def _conn(self) -> Connection | None:
        return self._child.conn

    def sink(self, robot_id: str) -> GatewaySink:
        if robot_id not in self._args[2]:
            raise KeyError(f"robot {robot_id!r} is not served by this gateway")
        return GatewaySink(self, robot_id)

    def enqueue(self, message: Message) -> None:
        self._batch.append(message)
        if len(self._batch) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        """Hand the batch over, and deliver commands that arrived meanwhile (on this thread)."""
        if self._conn is None:
            return
        if self._batch:
            self._conn.send(self._batch)
            self._batch = []
        while self._conn.poll(0):
            message = self._conn.recv()
            self._deliver(message)

    def _deliver(self, message: Any) -> None:
        if message[0] == "command":
            _, robot_id, topic, payload = message
            callback = self._command_callbacks.get(robot_id)
            if callback is not None:
                callback(topic, payload)

    def close(self, timeout_s: float = 30.0) -> GatewayReport:
        """Send what is left, close every connection (OFFLINE), and return what happened."""
        self.flush()
        conn = self._conn
        report = GatewayReport(errors={"gateway": 1}, first_errors=["telemetry gateway ended without a report"])
        if conn is None:
            return report
        try:
            conn.send(None)
            while conn.poll(timeout_s):
                message = conn.recv()
                if message[0] == "command":
                    continue  # too late: the robots are closed; the sender sees no ack
                if message[0] == "done":
                    report = message[1]
                else:
                    report.first_errors = [str(message[1])]
                break
        except (EOFError, BrokenPipeError, OSError) as exc:
            report.first_errors = [f"telemetry gateway pipe: {exc}"]
        self._child.kill()
        return report
