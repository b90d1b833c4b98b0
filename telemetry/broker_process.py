"""The embedded amqtt broker in a child process.

amqtt is pure Python: inside the simulator's process it competes with the fleet for the GIL and
halves the simulation's speed. In a child process it runs on the other core. The child exits when
told to, and also when its parent dies (the pipe closes), so it never outlives a killed run.
"""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection
from types import TracebackType

from telemetry.broker import EmbeddedBroker
from telemetry.child_process import ChildProcess


def _serve(conn: Connection, host: str, port: int) -> None:
    broker = EmbeddedBroker(host, port).start()
    conn.send(("ready", broker.port))
    try:
        conn.recv()  # "stop", or EOFError when the parent is gone
    except (EOFError, OSError):
        pass
    finally:
        broker.stop(timeout_s=5.0)


class BrokerProcess:
    """``start()`` / ``stop()`` (both bounded), or ``with BrokerProcess() as b: ... b.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port: int | None = None
        self._child = ChildProcess(_serve, (host, port), name="medbot-broker", what="embedded MQTT broker")

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("BrokerProcess is not running; call start() first")
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> BrokerProcess:
        if self._child.process is not None:
            raise RuntimeError("BrokerProcess already started")
        self.port = int(self._child.start(timeout_s))
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        conn = self._child.conn
        self.port = None
        if conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send("stop")
        self._child.kill(join_s=timeout_s)

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
