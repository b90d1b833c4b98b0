"""The embedded amqtt broker in a child process.

amqtt is pure Python: inside the simulator's process it competes with the fleet for the GIL and
halves the simulation's speed. In a child process it runs on the other core. The child exits when
told to, and also when its parent dies (the pipe closes), so it never outlives a killed run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType

from telemetry.broker import EmbeddedBroker


def _serve(conn: Connection, host: str, port: int) -> None:
    broker = EmbeddedBroker(host, port).start()
    conn.send(broker.port)
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
        self._requested_port = port
        self.port: int | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("BrokerProcess is not running; call start() first")
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> BrokerProcess:
        if self._process is not None:
            raise RuntimeError("BrokerProcess already started")
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self.host, self._requested_port),
                              name="medbot-broker", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        if not parent.poll(timeout_s):
            self.stop(timeout_s=2.0)
            raise TimeoutError(f"embedded MQTT broker process did not start within {timeout_s} s")
        try:
            self.port = int(parent.recv())
        except EOFError:
            self.stop(timeout_s=2.0)
            raise RuntimeError(f"embedded MQTT broker process exited at start (code {process.exitcode})") from None
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self.port = None
        if conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send("stop")
            conn.close()
        if process is not None:
            process.join(timeout_s)
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
