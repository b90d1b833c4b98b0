"""The HIS link over loopback MLLP, each figure next to a raw baseline measured in the same run.

- ``his listener``: ADT^A01 messages/s, each parsed (hl7apy, STRICT), applied to the census in its
  own SQLite transaction (WAL, synchronous=FULL), ACKed, over one connection with one message in
  flight (the sender waits for each ACK, as MLLP senders do). Baseline: a raw-socket MLLP echo
  server (a thread, blocking socket, our deframer, the block sent straight back) under the same
  client. ``detail`` also has `MllpServer` with an echo handler: the listener's framing and worker
  hand-off without HL7.
- ``his outbox replay``: N ORU^R01 already queued (sealed, in the store) drained in order by
  `ResultSender` to a python-hl7 asyncio MLLP listener that ACKs each (AA, python-hl7's
  `create_ack`). Baseline: the same N messages sent by a bare `MllpClient` to the same listener,
  with no store and no sealing.
- ``his oru build``: records from the clinical channel turned into queued ORUs per second (census
  lookup, hl7apy build, seal, insert): the rate a burst of rounds is taken in, for scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp

from bench.common import Result
from his import outbox
from his.census import Subject
from his.hl7in import Location
from his.mllp import FrameDecoder, MllpClient, MllpServer, frame
from his.orders import OrderPolicy
from his.oru import OruSettings, build_oru, control_id
from his.outbox import Backoff, ResultSender
from his.pseudonym import Pseudonymizer
from his.results import ResultIntake
from his.sealing import Sealer
from his.service import HisService
from his.store import Store

KEY = bytes(range(32))
SITE = "bench-hospital"


class _NullBus:
    def publish_census(self, body: dict[str, Any], stamp_s: float) -> None:
        pass

    def request(self, body: dict[str, Any], stamp_s: float) -> None:
        pass


def _adt(n: int) -> bytes:
    return (f"MSH|^~\\&|PAS|GENERAL|MEDBOT|GENERAL|20260105093000||ADT^A01^ADT_A01|B{n:08d}|P|2.5\r"
            f"EVN|A01|20260105093000\rPID|1||BENCH{n:08d}^^^GENERAL^MR||Bench^Patient||19700101|U\r"
            f"PV1|1|I|ward-a^^B-{n:06d}\r").encode()


def _vitals(ref: str, n: int) -> dict[str, Any]:
    return {"record_id": f"bench.{n}", "record_type": "vitals", "patient_ref": ref, "bed_ref": f"B-{n:06d}",
            "observations": {"on_oxygen": False, "spo2_scale": 1, "consciousness_acvpu": "A", "temperature_c": 36.8,
                             "temperature_site": "oral", "spo2_pct": 97, "pulse_bpm": 72, "resp_rate_per_min": 16,
                             "systolic_mmhg": 121, "diastolic_mmhg": 79, "complete": True, "incomplete_reason": None,
                             "measured_at": "2026-01-05T08:12:31.000Z"},
            "news2": {"total": 0, "risk": "low"}}


@contextlib.contextmanager
def _raw_echo() -> Iterator[int]:
    """A raw-socket MLLP echo server on one thread: the floor of one connection's round trip."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                decoder = FrameDecoder()
                while chunk := conn.recv(1 << 16):
                    for block in decoder.feed(chunk):
                        conn.sendall(frame(block))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(5)


def _rate(client: MllpClient, messages: list[bytes]) -> float:
    started = time.perf_counter()
    for message in messages:
        client.send(message)
    rate = len(messages) / (time.perf_counter() - started)
    client.close()
    return rate


def listener(n: int) -> Result:
    messages = [_adt(i) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="medbot-bench-his-") as tmp:
        store = Store(Path(tmp) / "his.db")
        service = HisService(store, Pseudonymizer(KEY), OrderPolicy(stations={"ward-a": "ward-a-station"}),
                             _NullBus())
        server = MllpServer(service.handle, "127.0.0.1", 0)
        server.start()
        echo = MllpServer(lambda block: block, "127.0.0.1", 0)
        echo.start()
        try:
            with _raw_echo() as raw_port:
                raw = _rate(MllpClient("127.0.0.1", raw_port), messages)
            framed = _rate(MllpClient("127.0.0.1", echo.port), messages)
            rate = _rate(MllpClient("127.0.0.1", server.port), messages)
            accepted = service.counts["ack_AA"]
        finally:
            server.stop()
            echo.stop()
            store.close()
    return Result("his listener (ADT A01 + ACK)", rate, "msg/s", raw, "raw MLLP echo, 1 conn", target="measured",
                  detail={"messages": n, "accepted": accepted, "mllp_server_echo_msg_s": round(framed, 1)})


class _Hl7Listener:
    """python-hl7's asyncio MLLP server on its own loop: every message ACKed AA."""

    def __init__(self) -> None:
        self.received = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            hl7.mllp.start_hl7_server(self._serve, "127.0.0.1", 0, encoding="utf-8"), self.loop).result(10)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while True:
                message = await reader.readmessage()
                self.received += 1
                writer.writemessage(message.create_ack("AA", message_id=f"A{self.received}"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def outbox_replay(n: int) -> Result:
    pseudonyms = Pseudonymizer(KEY)
    template = build_oru(_vitals("pt-0000000000000001", 0), "nurse-1",
                         Subject("BENCH00000000", Location("ward-a", "B-000000")),
                         control_id(SITE, "nurse-1", "bench.0"), OruSettings(), time.time(), time.time())
    hl7_listener = _Hl7Listener()
    with tempfile.TemporaryDirectory(prefix="medbot-bench-his-") as tmp:
        store = Store(Path(tmp) / "his.db")
        sender_client = MllpClient("127.0.0.1", hl7_listener.port)
        sealer = Sealer(pseudonyms)
        messages = []
        with store.transaction() as c:
            for i in range(n):
                control = control_id(SITE, "nurse-1", f"bench.{i}")
                message = template.message.replace(template.control_id.encode(), control.encode())
                messages.append(message)
                outbox.enqueue(c, record_key=f"nurse-1/bench.{i}", control_id=control, record_type="vitals",
                               robot_id="nurse-1", now_s=0.0, sealed=sealer.seal(message, b"oru:" + control.encode()))
        try:
            raw = _rate(MllpClient("127.0.0.1", hl7_listener.port), messages)
            sender = ResultSender(store, sealer, sender_client, alert=lambda body, stamp: None, backoff=Backoff())
            started = time.perf_counter()
            assert sender.step() is None
            rate = n / (time.perf_counter() - started)
            sender_client.close()
            with store.reading() as c:
                done = outbox.counts(c)
        finally:
            store.close()
            hl7_listener.close()
    return Result("his outbox replay (ORU + ACK)", rate, "msg/s", raw, "bare MllpClient, same listener",
                  target="measured", detail={"queued": n, "outbox": done, "listener": "python-hl7 asyncio",
                                             "received": hl7_listener.received})


def oru_build(n: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="medbot-bench-his-") as tmp:
        store = Store(Path(tmp) / "his.db")
        pseudonyms = Pseudonymizer(KEY)
        service = HisService(store, pseudonyms, OrderPolicy(stations={"ward-a": "ward-a-station"}), _NullBus())
        for i in range(n):
            service.handle(_adt(i))
        intake = ResultIntake(store, service.sealer, SITE, OruSettings(), alert=lambda body, stamp: None)
        records = [_vitals(pseudonyms.ref(f"BENCH{i:08d}"), i) for i in range(n)]
        started = time.perf_counter()
        outcomes = [intake.on_clinical("nurse-1", r, time.time()) for r in records]
        rate = n / (time.perf_counter() - started)
        store.close()
    return Result("his oru build (record -> queued)", rate, "rec/s", target="measured",
                  detail={"records": n, "queued": outcomes.count("queued"), "obx_per_oru": 10})


def measure(listener_n: int, replay_n: int, build_n: int) -> list[Result]:
    return [listener(listener_n), outbox_replay(replay_n), oru_build(build_n)]
