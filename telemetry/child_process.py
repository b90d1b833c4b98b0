"""A helper process on a pipe, started with `spawn` and stopped with bounded waits.

The simulator keeps its broker, its fleet's MQTT connections and its data center in child
processes so that they run on another core than the simulation; they all start, hand-shake and
stop the same way."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class ChildProcess:
    """Start `target(conn, *args)`; it must send ("ready", detail) or ("failed", why) first."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], *, name: str, what: str) -> None:
        self._target, self._args, self._name, self.what = target, args, name, what
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def start(self, timeout_s: float) -> Any:
        """Start and wait (bounded) for the child's hand-shake; returns its "ready" detail."""
        ctx = multiprocessing.get_context("spawn")  # never fork a process that has threads
        parent, child = ctx.Pipe()
        process = ctx.Process(target=self._target, args=(child, *self._args), name=self._name, daemon=True)
        process.start()
        child.close()
        self.process, self.conn = process, parent
        if not parent.poll(timeout_s):
            self.kill()
            raise TimeoutError(f"{self.what} did not start within {timeout_s} s")
        try:
            status, detail = parent.recv()
        except EOFError:
            self.kill()
            raise ConnectionError(f"{self.what} exited at start (code {process.exitcode})") from None
        if status != "ready":
            self.kill()
            raise ConnectionError(f"{self.what} could not start: {detail}")
        return detail

    def kill(self, join_s: float = 5.0) -> None:
        """Close the pipe (the child sees EOF), then join, terminate if it must (bounded)."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(join_s)
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)
