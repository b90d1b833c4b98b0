"""The hospital's side of the HIS link tests, on python-hl7 — not the library the service uses
(hl7apy), so a message both read the same way is HL7, not one library's idea of it.

Messages are built as python-hl7 containers (`hl7.parse` of a skeleton, then fields set through
its accessors) and sent with python-hl7's asyncio MLLP client; ACKs are read with `hl7.parse`.
Patient identifiers here are made-up test values.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import hl7
import hl7.mllp

from his.config import HisConfig, OrdersConfig
from his.orders import OrderPolicy
from his.pseudonym import Pseudonymizer

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
STATIONS = {"ward-a": "ward-a-nurse-station", "ward-b": "ward-b-nurse-station"}
POLICY: OrderPolicy = HisConfig(orders=OrdersConfig(stations=STATIONS)).policy()
_counter = iter(range(1, 10**9))


def pseudonyms() -> Pseudonymizer:
    return Pseudonymizer(KEY)


def _msh(message_type: str, control_id: str | None, version: str) -> str:
    control = control_id or f"MSG{next(_counter):06d}"
    return f"MSH|^~\\&|PAS|GENERAL|MEDBOT|GENERAL|20260105093000||{message_type}|{control}|P|{version}"


def adt(event: str, mrn: str, bed: str | None = None, ward: str | None = None, *, prior_bed: str | None = None,
        prior_ward: str | None = None, control_id: str | None = None, version: str = "2.5") -> str:
    """An ADT^<event> as ER7 text, built through python-hl7's accessors."""
    structure = {"A01": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03", "A04": "ADT_A01", "A08": "ADT_A01",
                 "A11": "ADT_A09", "A12": "ADT_A12", "A13": "ADT_A01"}.get(event, "ADT_A01")
    here = bed is not None or ward is not None
    before = prior_bed is not None or prior_ward is not None
    skeleton = "\r".join([
        # (HL7 2.3's MSH-9 has no message structure component)
        _msh(f"ADT^{event}" if version == "2.3" else f"ADT^{event}^{structure}", control_id, version),
        f"EVN|{event}|20260105093000",
        "PID|1||X^^^GENERAL^MR||Test^Patient||19700101|U",
        f"PV1|1|I|{'w^^b' if here else ''}|||{'w^^b' if before else ''}"])
    msg = hl7.parse(skeleton)
    msg["PID.F3.R1.C1"] = mrn
    if here:
        msg["PV1.F3.R1.C1"] = ward or ""
        msg["PV1.F3.R1.C3"] = bed or ""
    if before:
        msg["PV1.F6.R1.C1"] = prior_ward or ""
        msg["PV1.F6.R1.C3"] = prior_bed or ""
    return str(msg)


def order(mrn: str, placer: str, *, control: str = "NW", kind: str = "OML", specimen: str | None = None,
          test: str = "2823-3^Potassium^LN", stat: bool = False, ward: str | None = None,
          control_id: str | None = None, section: str | None = None) -> str:
    """OML^O21 (2.5, with SPM) or ORM^O01 (2.3) with one order."""
    if kind == "OML":
        lines = [_msh("OML^O21^OML_O21", control_id, "2.5"), "PID|1||X^^^GENERAL^MR||Test^Patient"]
    else:
        lines = [_msh("ORM^O01", control_id, "2.3"), "PID|1||X^^^GENERAL^MR||Test^Patient"]
    if ward is not None:
        lines.append(f"PV1|1|I|{ward}")
    lines.append(f"ORC|{control}|{placer}^LIS")
    if kind == "OML":
        lines.append(f"TQ1|1||||||||{'S' if stat else 'R'}")
    obr = f"OBR|1|{placer}^LIS||{test}"
    if section is not None:
        obr += "|" * 20 + section
    lines.append(obr)
    if kind == "OML" and specimen is not None:
        lines.append(f"SPM|1|{specimen}||SER^Serum^HL70487")
    msg = hl7.parse("\r".join(lines))
    msg["PID.F3.R1.C1"] = mrn
    return str(msg)


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1
    control_id: str  # MSA-2
    text: str  # MSA-3 or ERR-8
    error_code: str  # ERR-3.1 (2.5+) or ERR-1.4.1

    @classmethod
    def parse(cls, text: str) -> Ack:
        msg = hl7.parse(text.replace("\n", "\r"))
        assert str(msg["MSH.F9.R1.C1"]) == "ACK", text
        err_code, err_text = "", ""
        if any(str(s[0]) == "ERR" for s in msg):
            err = msg.segment("ERR")
            err_code = str(err(3)(1)(1)) if len(err) > 3 else str(msg["ERR.F1.R1.C4"]).split("&")[0]
            err_text = str(err(8)) if len(err) > 8 else ""
        msa = msg.segment("MSA")
        text3 = str(msa(3)) if len(msa) > 3 else ""
        return cls(str(msa(1)), str(msa(2)) if len(msa) > 2 else "", err_text or text3, err_code)


async def _send_all(host: str, port: int, messages: list[str], timeout_s: float) -> list[Ack]:
    reader, writer = await asyncio.wait_for(hl7.mllp.open_hl7_connection(host, port, encoding="utf-8"), timeout_s)
    acks: list[Ack] = []
    try:
        for text in messages:
            writer.writemessage(hl7.parse(text))
            await asyncio.wait_for(writer.drain(), timeout_s)
            reply = await asyncio.wait_for(reader.readmessage(), timeout_s)
            acks.append(Ack.parse(str(reply)))
    finally:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), timeout_s)
    return acks


def send(host: str, port: int, *messages: str, timeout_s: float = 20.0) -> list[Ack]:
    """Send each message over one MLLP connection, waiting for each ACK (bounded)."""
    return asyncio.run(_send_all(host, port, list(messages), timeout_s))


class Clock:
    """A test clock: each reading one second after the last (``now_s`` may be moved on by hand)."""

    def __init__(self) -> None:
        self.now_s = 1_767_600_000.0

    def __call__(self) -> float:
        self.now_s += 1.0
        return self.now_s


class RecordingBus:
    """The service's Bus for tests without a broker: what it would publish, in order."""

    def __init__(self) -> None:
        self.census: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    def publish_census(self, body: dict[str, Any], stamp_s: float) -> None:
        self.census.append(body)

    def request(self, body: dict[str, Any], stamp_s: float) -> None:
        self.requests.append(body)
