"""The simulated hospital's patient administration system, speaking HL7 v2 over MLLP to the HIS link.

With ``his: {enabled: true}`` in the scenario, the run starts the HIS link in process — the
classes `medbot his run` uses: `Store`, `Pseudonymizer`, `HisService` and its `MllpServer` on a
free loopback port — and this feed plays the hospital: an ADT^A01 for every patient of the census
at the start, one ADT^A03 discharge and one ADT^A02 transfer at the scenario's times, each built
with hl7apy as a hospital would send it, framed and sent over a real socket, its ACK read back.
Anything but AA is an error that names the message and the reason (`HisFeedError`).

Refs (docs/his.md, "Simulator"): the HIS link names a patient ``pt-`` + HMAC(key, identifier),
the simulator ``pt-`` + SHA-256(seed, bed); an HMAC cannot be made to hit a given value, so the
feed gives every simulated patient a hospital identifier (an MRN made from the seed and the bed)
and renames the patient to the ref the HIS link computes for it, before anything of the run reads
a ref. The key is derived from the seed (``key: seeded``: the same refs every run, so a seed still
reproduces the day) or random (``key: random``); it is never written to disk. What goes on the
census channel would then be exactly what the robots' wristbands and the ward chart say.

The census the service publishes stays in process (`CensusBoard`): the run has no broker in tests,
and the fleet does not read the census topic yet.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from hl7apy.core import Message

from hal.clock import Clock
from his.config import HisConfig
from his.mllp import FramingError, MllpClient, MllpServer
from his.oru import BadAck, parse_ack
from his.pseudonym import Pseudonymizer
from his.service import HisService
from his.store import Store
from sim.patients import WRISTBAND_PREFIX, PatientCensus, PatientModel, stable_int
from sim.scenario import HisFeedSettings

log = logging.getLogger(__name__)

SENDING_APPLICATION = "MEDBOT-SIM"  # MSH-3: the simulated hospital's patient administration system
SENDING_FACILITY = "SIM-HOSPITAL"  # MSH-4, and PID-3's assigning authority
RECEIVING_APPLICATION = "MEDBOT"  # MSH-5: the HIS link
VERSION = "2.5"
_STRUCTURE = {"A01": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03"}


class HisFeedError(RuntimeError):
    """A message the HIS link did not accept (AE/AR), or the link could not be reached."""


class CensusBoard:
    """The service's Bus, in process: keeps the census it last published and counts requests."""

    def __init__(self) -> None:
        self.census: dict[str, Any] = {"revision": 0, "beds": []}
        self.publishes = 0
        self.requests = 0

    def publish_census(self, body: dict[str, Any], stamp_s: float) -> None:
        self.census = body
        self.publishes += 1

    def request(self, body: dict[str, Any], stamp_s: float) -> None:
        self.requests += 1


def hospital_identifier(seed: int, bed_id: str) -> str:
    """The simulated patient's medical record number: made up from the seed and the admitting bed."""
    return f"SIM{stable_int('medbot-sim-mrn', seed, bed_id):010d}"


def feed_key(settings: HisFeedSettings, seed: int) -> bytes:
    if settings.key == "random":
        return secrets.token_bytes(32)
    return hashlib.sha256(f"medbot-sim/his-key/v1\x00{seed}".encode()).digest()


def _hl7_time(stamp_s: float) -> str:
    return datetime.fromtimestamp(stamp_s, tz=UTC).strftime("%Y%m%d%H%M%S")


def _time_of_day_s(day_start_s: float, run_start_s: float, hh_mm: str) -> float:
    hours, minutes = hh_mm.split(":")
    at_s = day_start_s + int(hours) * 3600 + int(minutes) * 60
    return at_s + 86400 if at_s < run_start_s else at_s


@dataclass(frozen=True, slots=True)
class _Patient:
    identifier: str
    model: PatientModel


class HisFeed:
    """Plays the hospital's ADT feed for one run. `__init__` renames the census' patients to the
    HIS link's refs (nothing is started); `start` brings the link up and admits everyone; `step`
    sends what is due; `close` stops it and keeps the figures for `summary`."""

    def __init__(self, settings: HisFeedSettings, census: PatientCensus, clock: Clock, seed: int, *,
                 day_start_s: float, start_s: float, end_s: float) -> None:
        self.settings = settings
        self.census = census
        self.clock = clock
        self.pseudonyms = Pseudonymizer(feed_key(settings, seed))
        self.patients: dict[str, _Patient] = {}  # admitting bed -> patient
        for model in census.patients():
            identifier = hospital_identifier(seed, model.bed_id)
            model.patient_ref = self.pseudonyms.ref(identifier)
            model.wristband_payload = WRISTBAND_PREFIX + model.patient_ref
            self.patients[model.bed_id] = _Patient(identifier, model)
        self.beds: dict[str, str] = {bed: bed for bed in self.patients}  # admitting bed -> bed now
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF,
                                                                           stable_int("his-feed")])))
        order = [sorted(self.patients)[int(i)] for i in rng.permutation(len(self.patients))]
        self.discharged_from = order[0] if order else None  # the admitting bed of who goes home
        self.moved_from = order[1] if len(order) > 1 else None  # ... and of who moves into their bed
        self._due: list[tuple[float, str]] = []
        at_discharge = at_transfer = None
        if settings.discharge_at is not None and self.discharged_from is not None:
            at_discharge = _time_of_day_s(day_start_s, start_s, settings.discharge_at)
            self._due.append((at_discharge, "A03"))
        if settings.transfer_at is not None and self.moved_from is not None:
            at_transfer = _time_of_day_s(day_start_s, start_s, settings.transfer_at)
            if at_discharge is None or at_transfer <= at_discharge:
                raise ValueError("his.transfer_at must come after his.discharge_at: every bed is occupied at the "
                                 "start, and the transfer goes into the bed the discharge frees")
            self._due.append((at_transfer, "A02"))
        self._due = sorted(d for d in self._due if d[0] < end_s)
        self.sent: Counter[str] = Counter()
        self.acks: Counter[str] = Counter()
        self.board = CensusBoard()
        self._store: Store | None = None
        self._service: HisService | None = None
        self._server: MllpServer | None = None
        self._client: MllpClient | None = None
        self._final: dict[str, Any] | None = None
        #: the HIS link's census when the feed closed (its store is closed then)
        self.final_census: dict[str, Any] | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self, store_path: Path, *, fresh: bool) -> None:
        """Start the HIS link on a free loopback port (its store at `store_path`, emptied first when
        `fresh`) and admit every patient of the census."""
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        store_path.parent.mkdir(parents=True, exist_ok=True)
        self._store = Store(store_path)
        config = HisConfig(application=RECEIVING_APPLICATION)  # what `medbot his run` loads, defaults
        self._service = HisService(self._store, self.pseudonyms, config.policy(), self.board,
                                   settings=config.settings(), clock_s=self.clock.now_s)
        timeout_s = self.settings.timeout_s
        self._server = MllpServer(self._service.handle, "127.0.0.1", 0, idle_timeout_s=max(60.0, 6 * timeout_s),
                                  max_connections=2)
        self._server.start(timeout_s=timeout_s)
        self._client = MllpClient("127.0.0.1", self._server.port, connect_timeout_s=timeout_s,
                                  reply_timeout_s=timeout_s)
        self._service.publish_census()
        for bed in sorted(self.patients):
            patient = self.patients[bed]
            self._send("A01", patient, bed)
        self._client.close()  # one connection per burst: the listener closes idle ones
        log.info("sim his: %d patients admitted over MLLP to port %d", len(self.patients), self._server.port)

    def step(self, now_s: float) -> None:
        while self._due and self._due[0][0] <= now_s:
            _, event = self._due.pop(0)
            if event == "A03" and self.discharged_from is not None:
                self._send("A03", self.patients[self.discharged_from], None)
                self.beds.pop(self.discharged_from)
            elif event == "A02" and self.moved_from is not None and self.discharged_from is not None:
                self._send("A02", self.patients[self.moved_from], self.discharged_from,
                           prior=self.beds[self.moved_from])
                self.beds[self.moved_from] = self.discharged_from
            if self._client is not None:
                self._client.close()

    def close(self) -> None:
        if self._final is None and self._service is not None:
            self.final_census = self._service.census()
            self._final = {"census_size": len(self.final_census["beds"]),
                           "service_counts": dict(sorted(self._service.counts.items()))}
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.stop(timeout_s=self.settings.timeout_s)
        if self._store is not None:
            self._store.close()
        self._client = self._server = self._store = None

    def his_census(self) -> dict[str, Any]:
        """The HIS link's census now (its store), as it publishes it."""
        if self._service is None:
            raise RuntimeError("the HIS feed is not started")
        return self._service.census()

    def summary(self) -> dict[str, Any]:
        final = self._final or {"census_size": len(self.his_census()["beds"]) if self._service else 0,
                                "service_counts": {}}
        return {"enabled": True, "messages_sent": sum(self.sent.values()), "sent": dict(sorted(self.sent.items())),
                "acks": {code: self.acks.get(code, 0) for code in ("AA", "AE", "AR")},
                "census_size": final["census_size"], "census_publishes": self.board.publishes,
                "service_counts": final["service_counts"], "key": self.settings.key}

    # ---- the hospital's side ------------------------------------------------------------------

    def _message(self, event: str, control_id: str, patient: _Patient, bed: str | None,
                 prior: str | None) -> bytes:
        now = _hl7_time(self.clock.now_s())
        msg = Message(_STRUCTURE[event], version=VERSION)
        msg.msh.msh_3 = SENDING_APPLICATION
        msg.msh.msh_4 = SENDING_FACILITY
        msg.msh.msh_5 = RECEIVING_APPLICATION
        msg.msh.msh_7 = now
        msg.msh.msh_9 = f"ADT^{event}^{_STRUCTURE[event]}"
        msg.msh.msh_10 = control_id
        msg.msh.msh_11 = "P"
        msg.evn.evn_1 = event
        msg.evn.evn_2 = now
        msg.pid.pid_1 = "1"
        msg.pid.pid_3 = f"{patient.identifier}^^^{SENDING_FACILITY}^MR"
        msg.pv1.pv1_2 = "I"
        if bed is not None:
            msg.pv1.pv1_3 = f"{self.patients[bed].model.ward or ''}^^{bed}"
        if prior is not None:
            msg.pv1.pv1_6 = f"{self.patients[prior].model.ward or ''}^^{prior}"
        return (str(msg.to_er7()).replace("\n", "\r").rstrip("\r") + "\r").encode("utf-8")

    def _send(self, event: str, patient: _Patient, bed: str | None, *, prior: str | None = None) -> None:
        assert self._client is not None
        n = sum(self.sent.values()) + 1
        control_id = f"SIM{event}{n:06d}"  # deterministic: a resumed run's repeat is answered as one
        raw = self._message(event, control_id, patient, bed, prior)
        what = f"ADT^{event} {control_id}"
        self.sent[event] += 1
        try:
            reply = parse_ack(self._client.send(raw))
        except (OSError, FramingError, BadAck) as exc:  # (TimeoutError is an OSError)
            raise HisFeedError(f"{what}: no ACK from the HIS link ({type(exc).__name__}: {exc})") from None
        self.acks[reply.code] += 1
        if reply.control_id != control_id:
            raise HisFeedError(f"{what}: the ACK answers control id {reply.control_id!r}")
        if reply.code != "AA":
            raise HisFeedError(f"{what} (patient {patient.model.patient_ref}, bed {bed or '-'}) answered "
                               f"{reply.code} {reply.error_code}: {reply.reason}")

