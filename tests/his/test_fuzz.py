"""1,000 seeded malformed or refusable HL7 messages over a real MLLP socket: every one answered AE
or AR, the listener never fails, the census never changes; a good message is still taken after."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hospital import POLICY, Ack, Clock, RecordingBus, adt, order, pseudonyms

from his.mllp import MllpClient, MllpServer
from his.service import HisService
from his.store import Store

SEED = 20260105
COUNT = 1000
OCCUPIED = [("MRN-1", "A-01", "ward-a"), ("MRN-2", "A-02", "ward-a"), ("MRN-3", "B-01", "ward-b")]


def _valid(rng: random.Random) -> str:
    mrn, bed, ward = rng.choice(OCCUPIED)
    return rng.choice([adt("A02", mrn, "B-07", "ward-b"), adt("A01", f"NEW-{rng.randrange(10**6)}", "A-09", "ward-a"),
                       adt("A08", mrn, bed, ward)])


def _replace_segment_id(text: str, rng: random.Random) -> str:
    lines = text.split("\r")
    i = rng.randrange(1, len([line for line in lines if line]))
    lines[i] = "Y" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(2)) + lines[i][3:]
    return "\r".join(lines)


MUTATIONS: dict[str, Callable[[random.Random], str | bytes]] = {
    "random bytes": lambda r: bytes(r.randrange(256) for _ in range(r.randrange(1, 400))).replace(b"\x0b", b"")
    .replace(b"\x1c", b""),
    "text, no MSH": lambda r: "PID|1||X\rPV1|1|I|ward-a^^A-05\r",
    "unknown segment": lambda r: _replace_segment_id(_valid(r), r),
    "wrong version": lambda r: _valid(r).replace("|P|2.5", f"|P|{r.choice(['2.9', '3.0', '2', 'x', '25'])}", 1),
    "unknown event": lambda r: _valid(r).replace("ADT^A0", f"ADT^X{r.randrange(10)}", 1),
    "unknown message type": lambda r: _valid(r).replace("ADT^", r.choice(["ORU^", "SIU^", "MFN^", "QRY^"]), 1),
    "wrong processing id": lambda r: _valid(r).replace("|P|2.5", "|X|2.5", 1),
    "no control id": lambda r: _valid(r).replace("|MSG", "|", 1).split("|P|2.5")[0].rsplit("|", 1)[0]
    + "||P|2.5" + _valid(r).split("|P|2.5", 1)[1],
    "bad date": lambda r: _valid(r).replace("|20260105093000|", f"|2026{r.randrange(13, 99)}05XX|", 1),
    "identifier too long": lambda r: adt("A01", "M" * r.randrange(300, 3000), "A-09", "ward-a"),
    "truncated before PV1": lambda r: _valid(r).split("\rPV1")[0][: r.randrange(40, 200)],
    "bad encoding characters": lambda r: _valid(r).replace("^~\\&", r.choice(["^~", "", "^^^^", "|||"]), 1),
    "unknown patient A02": lambda r: adt("A02", f"GHOST-{r.randrange(10**6)}", "B-09", "ward-b"),
    "unknown patient A03/A11/A12/A13": lambda r: adt(r.choice(["A03", "A11", "A12", "A13"]),
                                                     f"GHOST-{r.randrange(10**6)}", "A-09", "ward-a"),
    "into an occupied bed": lambda r: adt("A01", f"NEW-{r.randrange(10**6)}", r.choice(OCCUPIED)[1], "ward-a"),
    "transfer into an occupied bed": lambda r: adt("A02", "MRN-1", "A-02", "ward-a"),
    "bad bed name": lambda r: adt("A01", "NEW-1", r.choice(["A 01", "A/01", "bed#1", "a" * 80]), "ward-a"),
    "no PV1": lambda r: "\r".join(line for line in _valid(r).split("\r") if not line.startswith("PV1")),
    "no PID": lambda r: "\r".join(line for line in _valid(r).split("\r") if not line.startswith("PID")),
    "two MSH": lambda r: _valid(r).split("\r", 1)[0] + "\r" + _valid(r),
    "segments out of order": lambda r: "\r".join([*sorted(_valid(r).split("\r")[1:]), _valid(r).split("\r")[0]]),
    "order without test": lambda r: order("MRN-1", f"ORD-{r.randrange(10**6)}", test=""),
    "unhandled order control": lambda r: order("MRN-1", "ORD-1", control=r.choice(["XO", "SC", "OC", "DC"])),
    "cancel of an unknown order": lambda r: order("MRN-1", f"ORD-{r.randrange(10**6)}", control="CA"),
    "reused control id": lambda r: adt("A02", "MRN-2", "B-08", "ward-b", control_id="SEED-1"),
}


def test_a_thousand_bad_messages_are_each_refused_and_change_nothing(tmp_path: Path) -> None:
    bus = RecordingBus()
    service = HisService(Store(tmp_path / "his.db"), pseudonyms(), POLICY, bus, clock_s=Clock())
    server = MllpServer(service.handle, "127.0.0.1", 0, idle_timeout_s=30)
    server.start()
    try:
        with MllpClient("127.0.0.1", server.port, reply_timeout_s=20) as client:
            for i, (mrn, bed, ward) in enumerate(OCCUPIED):
                control = "SEED-1" if i == 0 else None
                assert Ack.parse(client.send(adt("A01", mrn, bed, ward, control_id=control).encode()).decode()).code \
                    == "AA"
            before, published = service.census(), len(bus.census)
            rng = random.Random(SEED)
            names = sorted(MUTATIONS)
            codes: Counter[str] = Counter()
            for _ in range(COUNT):
                name = rng.choice(names)
                message = MUTATIONS[name](rng)
                raw = message if isinstance(message, bytes) else message.encode()
                ack = Ack.parse(client.send(raw).decode())
                assert ack.code in ("AE", "AR"), (name, ack)
                assert ack.text, name  # always a reason
                codes[f"{name}: {ack.code}"] += 1
            assert service.census() == before and len(bus.census) == published and bus.requests == []
            # still serving, on the same connection
            assert Ack.parse(client.send(adt("A02", "MRN-3", "B-02", "ward-b").encode()).decode()).code == "AA"
        assert server.stats.messages == len(OCCUPIED) + COUNT + 1 == server.stats.replies
        assert server.stats.handler_errors == 0 and service.counts["internal_errors"] == 0
        assert len({c.split(":")[0] for c in codes}) == len(MUTATIONS)  # every kind of fault was tried
    finally:
        server.stop()
