"""The hospital's record system for the results tests, on python-hl7: its asyncio MLLP server receives
our ORU^R01s and answers each with python-hl7's own ACK (AA, or AE with an ERR segment), or holds
the reply, or drops the connection, as the test's ``policy`` says. It can go away and come back on
the same port. Everything it received is kept, in order, as python-hl7 read it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import hl7
import hl7.mllp

#: policy(message as python-hl7 read it, how many it received before) -> "AA" | "AE" | "hold" | "drop"
Policy = Callable[[hl7.Message, int], str]


class RecordSystem:
    def __init__(self, policy: Policy | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.policy: Policy = policy or (lambda msg, n: "AA")
        self.host = host
        self.port = port
        self.received: list[hl7.Message] = []
        self.answers: list[str] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="record-system", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[Any] = set()
        self._release = asyncio.Event()

    # ---- lifecycle (from the test's thread) -----------------------------------------------------

    def start(self) -> RecordSystem:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._release = asyncio.Event()
        self._server = await hl7.mllp.start_hl7_server(self._serve, self.host, self.port, encoding="utf-8")
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Go away: stop listening and cut every connection (held replies are never sent)."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    def release(self) -> None:
        """Let held replies go."""
        self._loop.call_soon_threadsafe(self._release.set)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # ---- one connection (on the loop) -----------------------------------------------------------

    async def _serve(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    message = await reader.readmessage()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                with self._cond:
                    n = len(self.received)
                    self.received.append(message)
                    self._cond.notify_all()
                answer = self.policy(message, n)
                if answer == "hold":
                    await self._release.wait()
                    answer = "AA"
                if answer == "drop":
                    return
                with self._cond:
                    self.answers.append(answer)
                try:
                    writer.writemessage(self.ack(message, answer))
                    await writer.drain()
                except ConnectionError:  # the sender is gone (a held reply after it was killed)
                    return
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    def ack(message: hl7.Message, code: str) -> hl7.Message:
        ack = message.create_ack(code, message_id=f"ACK{time.monotonic_ns() % 10**12}", application="EHR",
                                 facility="GENERAL")
        if code == "AA":
            return ack
        patient = str(message["PID.F3.R1.C1"])
        return hl7.parse(str(ack) + f"\rERR||PID^1^3|204^Unknown key identifier^HL70357|E||||no such patient "
                                    f"{patient} in the record")

    # ---- reading what came ----------------------------------------------------------------------

    def control_ids(self) -> list[str]:
        with self._cond:
            return [str(m["MSH.F10"]) for m in self.received]

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[hl7.Message]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.received)} messages within {timeout_s} s, wanted {count}"
                self._cond.wait(left)
            return list(self.received)


def first_component(segment: Any, n: int) -> str:
    """Field n's first component as python-hl7 reads it ("" when the field is absent or empty)."""
    if len(segment) <= n or not str(segment[n]):
        return ""
    field = segment[n]
    return str(field[0][0]) if isinstance(field, hl7.Field) and isinstance(field[0], hl7.Repetition) else str(field)


def obx_rows(message: hl7.Message) -> dict[str, tuple[str, str, str]]:
    """OBX-3.1 -> (OBX-5, OBX-6.1, OBX-18.1), as python-hl7 reads them."""
    return {first_component(seg, 3): (str(seg[5]), first_component(seg, 6), first_component(seg, 18))
            for seg in message.segments("OBX")}
