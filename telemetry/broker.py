"""An embedded MQTT broker (amqtt) on its own asyncio loop in a daemon thread.

Good for ``medbot sim`` and tests (~5 k msg/s end to end); production uses Mosquitto. Binds
127.0.0.1 on a free port by default. Plugins are limited to anonymous auth: no $SYS topics, no
packet logging.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any

from amqtt.broker import Broker

_NOISY_LOGGERS = ("amqtt", "transitions")


class EmbeddedBroker:
    """``start()`` / ``stop()`` (both bounded) or ``with EmbeddedBroker() as b: ... b.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.quiet = quiet
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("EmbeddedBroker is not running; call start() first")
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.port is not None

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        if self._thread is not None:
            raise RuntimeError("EmbeddedBroker already started")
        if self.quiet:
            for name in _NOISY_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, args=(loop,), name="medbot-amqtt", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start_broker(), loop)
        try:
            self._broker, self.port = future.result(timeout_s)
        except FutureTimeout:
            future.cancel()
            self._stop_loop(timeout_s=1.0)
            raise TimeoutError(f"embedded MQTT broker did not start within {timeout_s} s") from None
        except Exception:
            self._stop_loop(timeout_s=1.0)
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the broker down and join its thread; never waits longer than about ``timeout_s``."""
        if self._loop is None:
            return
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                future.result(timeout_s / 2)
            except Exception:  # a timeout or a shutdown error: the loop is stopped below regardless
                future.cancel()
        self._broker = None
        self.port = None
        self._stop_loop(timeout_s / 2)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _stop_loop(self, timeout_s: float) -> None:
        loop, thread = self._loop, self._thread
        self._loop = None
        self._thread = None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout_s)

    async def _start_broker(self) -> tuple[Broker, int]:
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self._requested_port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        # amqtt 0.12 iterates its subscription table across awaits; a client subscribing meanwhile
        # kills the connecting client ("dictionary changed size during iteration"). Iterating a
        # snapshot is what the code means; the table is small.
        broker._subscriptions = _SnapshotDict(broker._subscriptions)
        await broker.start()
        return broker, _bound_port(broker)


class _SnapshotDict(dict[Any, Any]):
    """A dict whose iteration works on a copy, so it may change while a coroutine walks it."""

    def __iter__(self) -> Iterator[Any]:
        return iter(list(super().keys()))

    def keys(self) -> list[Any]:  # type: ignore[override]
        return list(super().keys())

    def values(self) -> list[Any]:  # type: ignore[override]
        return list(super().values())

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        return list(super().items())


def _bound_port(broker: Broker) -> int:
    # amqtt does not expose the port it bound; with port 0 we must ask the listening socket.
    server = broker._servers["default"].instance
    sockets = getattr(server, "sockets", None)
    if not sockets:
        raise RuntimeError("amqtt started without a listening socket")
    port: int = sockets[0].getsockname()[1]
    return port
