"""The simulated hospital's information systems speaking HL7 v2 over MLLP with the HIS link.

With ``his: {enabled: true}`` in the scenario, the run starts the HIS link in process — the classes
`medbot his run` uses: `Store`, `Pseudonymizer`, `HisService` and its `MllpServer` on a free
loopback port — and this feed plays the hospital (docs/his.md, "Simulator"):

* **ADT** from the patient administration system: an A01 for every patient at the start; at the
  scenario's times one A03 discharge, the swapped-bed correction (three A08 through the bed the
  discharge freed) and one A02 transfer into that bed. The simulated ward follows: the discharged
  patient leaves, the transferred one is wheeled over, and the census is put right (`PatientCensus`).
* **Orders** from order entry: every specimen order the nurses place (sim/hospital/lab.py) as an
  OML^O21; the HIS link turns the stat ones into pick-ups of their own (routine tubes go with the
  lab's rounds: ``orders.pickups: stat``); the first stat order is cancelled (ORC-1 CA) soon after,
  and if the link accepts the cancel the nurse takes the tube back off the station.
* **Results**: the robots' clinical records reach the link's results intake on the loopback, and
  their ORU^R01s go to a record system's MLLP listener (sim/his_records.py).

What the link publishes reaches the fleet on the loopback of the contract (sim/fleet_link.py): the
census as the retained ``his/census`` message, which the fleet's ward chart reads
(fleet/census.py), and the pick-ups as ``fleet/tasks/request``; the fleet's task states come back
to the link. Each message is built with hl7apy (sim/his_messages.py), sent over a real socket and
its ACK read; anything but AA — but an AE 206 to a cancel of a pick-up already under way — is an
error naming the message and the reason (`HisFeedError`).

Refs: the HIS link names a patient ``pt-`` + HMAC(key, identifier), the simulator ``pt-`` +
SHA-256(seed, bed); an HMAC cannot be made to hit a given value, so the feed gives every simulated
patient a hospital identifier (an MRN from the seed and the bed) and renames the patient to the
ref the HIS link computes for it, before anything of the run reads a ref. The wristband is printed
with that ref (``MEDBOT-PT:<ref>``), which is what the nursing robot compares with the ref its round
got from the census. The key is derived from the seed (``key: seeded``) or random; never on disk.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hal.clock import Clock
from his.config import HisConfig, OrdersConfig
from his.mllp import FramingError, MllpClient, MllpServer
from his.oru import BadAck, parse_ack
from his.pseudonym import Pseudonymizer
from his.service import HisService
from his.store import Store
from sim import his_messages as hl7
from sim.his_records import SimResults
from sim.patients import WRISTBAND_PREFIX, PatientCensus, PatientModel, stable_int
from sim.scenario import HisFeedSettings
from telemetry.topics import FLEET_ID, HIS_ID, Channel

log = logging.getLogger(__name__)

#: the HIS link re-sends what the fleet has not confirmed; the feed lets it look this often (sim s)
TICK_EVERY_S = 30.0


class HisFeedError(RuntimeError):
    """A message the HIS link did not accept (AE/AR), or the link could not be reached."""


class Loopback(Protocol):
    """What the feed needs of the fleet's loopback (sim/fleet_link.py `LoopbackFleet`)."""

    taps: list[Any]
    fleet_taps: list[Any]

    def deliver(self, robot_id: str, channel: str, body: dict[str, Any], stamp_s: float) -> None: ...


class CensusBoard:
    """The service's Bus, in process: keeps the census it last published, counts requests, and
    hands both to the fleet's loopback when one is attached."""

    def __init__(self) -> None:
        self.census: dict[str, Any] = {"revision": 0, "beds": []}
        self.publishes = 0
        self.requests = 0
        self.fleet: Loopback | None = None

    def publish_census(self, body: dict[str, Any], stamp_s: float) -> None:
        self.census = body
        self.publishes += 1
        if self.fleet is not None:
            self.fleet.deliver(HIS_ID, Channel.CENSUS.value, body, stamp_s)

    def request(self, body: dict[str, Any], stamp_s: float) -> None:
        self.requests += 1
        if self.fleet is not None:
            self.fleet.deliver(FLEET_ID, Channel.TASK_REQUESTS.value, body, stamp_s)


def hospital_identifier(seed: int, bed_id: str) -> str:
    """The simulated patient's medical record number: made up from the seed and the admitting bed."""
    return f"SIM{stable_int('medbot-sim-mrn', seed, bed_id):010d}"


def feed_key(settings: HisFeedSettings, seed: int) -> bytes:
    if settings.key == "random":
        return secrets.token_bytes(32)
    return hashlib.sha256(f"medbot-sim/his-key/v1\x00{seed}".encode()).digest()


def _time_of_day_s(day_start_s: float, run_start_s: float, hh_mm: str) -> float:
    hours, minutes = hh_mm.split(":")
    at_s = day_start_s + int(hours) * 3600 + int(minutes) * 60
    return at_s + 86400 if at_s < run_start_s else at_s


@dataclass(frozen=True, slots=True)
class _Patient:
    identifier: str
    model: PatientModel


class HisFeed:
    """Plays the hospital's HL7 side for one run. `__init__` renames the census' patients to the HIS
    link's refs (nothing is started); `attach` wires the fleet's loopback and the lab; `start` brings
    the link up and admits everyone; `step` sends what is due; `close` stops it, keeping the figures."""

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
        self._by_ref = {p.model.patient_ref: p for p in self.patients.values()}
        self._ward_of = {bed: p.model.ward for bed, p in self.patients.items()}
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF,
                                                                           stable_int("his-feed")])))
        # who goes home and who moves: patients the day's other cases do not need (not deteriorating:
        # the grading follows them all day; not in the swapped pair, which the A08s put right)
        swapped = set(census.swapped_beds())
        candidates = sorted(b for b, p in self.patients.items() if not p.model.deteriorating and b not in swapped)
        order = [candidates[int(i)] for i in rng.permutation(len(candidates))]
        self.discharged_from = order[0] if order else None  # the admitting bed of who goes home
        self.moved_from = order[1] if len(order) > 1 else None  # ... and of who moves into their bed
        self.swap = census.swaps[0] if census.swaps else None
        self._due: list[tuple[float, str]] = []
        at: dict[str, float] = {}
        for event, when in (("A03", settings.discharge_at), ("A08", settings.swap_fix_at),
                            ("A02", settings.transfer_at)):
            if when is not None and (event != "A08" or self.swap is not None):
                at[event] = _time_of_day_s(day_start_s, start_s, when)
        if "A03" in at and self.discharged_from is None:
            del at["A03"]
        for event in ("A02", "A08"):
            if event in at and ("A03" not in at or at[event] <= at["A03"]):
                what = "transfer_at" if event == "A02" else "swap_fix_at"
                raise ValueError(f"his.{what} must come after his.discharge_at: every bed is occupied at the "
                                 "start, and the bed the discharge frees is the one it needs")
        self._due = sorted((s, e) for e, s in at.items() if s < end_s)
        self.sent: Counter[str] = Counter()
        self.acks: Counter[str] = Counter()
        self.orders: Counter[str] = Counter()
        self.board = CensusBoard()
        self._store: Store | None = None
        self._service: HisService | None = None
        self._server: MllpServer | None = None
        self._client: MllpClient | None = None
        self._results: SimResults | None = None
        self._lab: Any = None
        self._stations: dict[str, str] = {}
        self._orders_placed = 0
        self._orders_sent: set[str] = set()
        self._cancels: list[tuple[float, str]] = []  # (due_s, sample id)
        self._next_tick_s = start_s + TICK_EVERY_S
        self._final: dict[str, Any] | None = None
        #: the HIS link's census when the feed closed (its store is closed then)
        self.final_census: dict[str, Any] | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def attach(self, fleet: Loopback | None, lab: Any = None) -> None:
        """The fleet's loopback (census and requests to it, its task states and the robots'
        clinical records back) and the simulated lab whose orders go out as OML^O21."""
        self.board.fleet = fleet
        if fleet is not None:
            fleet.fleet_taps.append(self._on_fleet)
            if self.settings.results:
                fleet.taps.append(self._on_robot)
        if lab is not None and self.settings.orders:
            self._lab = lab
            world = lab.ctx.world
            self._stations = {str(world.place(st).zone): st for st in lab.stations}

    def start(self, store_path: Path, *, fresh: bool, admitted_at_s: float | None = None) -> None:
        """Start the HIS link on a free loopback port (its store at `store_path`, emptied first when
        `fresh`) and admit every patient of the census, stamped `admitted_at_s` (before the day: a
        resumed run, starting later, sends the same admissions byte for byte, which the HIS link
        answers as the repeats they are; stamped with its start they were refused, MSH-10 reused)."""
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        store_path.parent.mkdir(parents=True, exist_ok=True)
        self._store = Store(store_path)
        # what `medbot his run` loads; stat orders get pick-ups of their own, routine ones the lab's rounds
        config = HisConfig(application=hl7.RECEIVING_APPLICATION,
                           orders=OrdersConfig(stations=self._stations, pickups="stat"))
        self._service = HisService(self._store, self.pseudonyms, config.policy(), self.board,
                                   settings=config.settings(), clock_s=self.clock.now_s)
        timeout_s = self.settings.timeout_s
        self._server = MllpServer(self._service.handle, "127.0.0.1", 0, idle_timeout_s=max(60.0, 6 * timeout_s),
                                  max_connections=2)
        self._server.start(timeout_s=timeout_s)
        self._client = MllpClient("127.0.0.1", self._server.port, connect_timeout_s=timeout_s,
                                  reply_timeout_s=timeout_s)
        if self.settings.results and self.board.fleet is not None:
            target = None
            if self.settings.record_system is not None:
                host, port = self.settings.record_system.rsplit(":", 1)
                target = (host, int(port))
            self._results = SimResults(self._store, self._service, "sim", config.oru_settings(),
                                       timeout_s=timeout_s, clock_s=self.clock.now_s, target=target)
        self._service.publish_census()
        for bed in sorted(self.patients):
            patient = self.patients[bed]
            self._adt("A01", patient, bed, at_s=admitted_at_s)
        self._client.close()  # one connection per burst: the listener closes idle ones
        log.info("sim his: %d patients admitted over MLLP to port %d", len(self.patients), self._server.port)

    def step(self, now_s: float) -> None:
        burst = False
        while self._due and self._due[0][0] <= now_s:
            _, event = self._due.pop(0)
            burst = True
            if event == "A03":
                self._discharge()
            elif event == "A08":
                self._correct_swap()
            elif event == "A02":
                self._transfer()
        if self._lab is not None and self._lab.stats.orders_placed != self._orders_placed:
            self._orders_placed = self._lab.stats.orders_placed
            burst |= self._send_new_orders(now_s)
        while self._cancels and self._cancels[0][0] <= now_s:
            _, sample_id = self._cancels.pop(0)
            self._cancel(sample_id)
            burst = True
        if now_s >= self._next_tick_s and self._service is not None:
            self._next_tick_s = now_s + TICK_EVERY_S
            self._service.tick()
        if burst and self._client is not None:
            self._client.close()

    def close(self) -> None:
        results = self._results.close() if self._results is not None else None
        self._results = None
        if self._final is None and self._service is not None:
            self.final_census = self._service.census()
            self._final = {"census_size": len(self.final_census["beds"]),
                           "service_counts": dict(sorted(self._service.counts.items())), "results": results}
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
                                "service_counts": {}, "results": None}
        out = {"enabled": True, "messages_sent": sum(self.sent.values()), "sent": dict(sorted(self.sent.items())),
               "acks": {code: self.acks.get(code, 0) for code in ("AA", "AE", "AR")},
               "census_size": final["census_size"], "census_publishes": self.board.publishes,
               "task_requests": self.board.requests, "orders": dict(sorted(self.orders.items())),
               "service_counts": final["service_counts"], "key": self.settings.key}
        if final.get("results") is not None:
            out["results"] = final["results"]
        return out

    # ---- the loopback ---------------------------------------------------------------------------

    def _on_fleet(self, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        if channel is Channel.TASKS and self._service is not None and str(body.get("task_id", "")).startswith("his-"):
            self._service.on_task(str(body["task_id"]), str(body["state"]), body.get("reason"))

    def _on_robot(self, robot_id: str, channel: str, body: dict[str, Any], stamp_s: float) -> None:
        if channel == Channel.CLINICAL.value and self._results is not None:
            self._results.on_clinical(robot_id, body, stamp_s)

    # ---- ADT ------------------------------------------------------------------------------------

    def _discharge(self) -> None:
        if self.discharged_from is None:
            return
        self._adt("A03", self.patients[self.discharged_from], None)
        self.census.discharge(self.discharged_from)

    def _transfer(self) -> None:
        free = self._free_bed()
        if self.moved_from is None or free is None:
            return
        patient = self.patients[self.moved_from]
        self._adt("A02", patient, free, prior=patient.model.current_bed_id)
        self.census.transfer(patient.model.current_bed_id, free)

    def _correct_swap(self) -> None:
        """The census swapped two patients' beds: put right through a free bed with three A08."""
        free = self._free_bed()
        if self.swap is None or free is None:
            return
        a, b = self.swap
        in_a, in_b = self.census.assigned(a), self.census.assigned(b)  # who the census (wrongly) says
        if in_a is None or in_b is None:
            return
        pa, pb = self._by_ref[in_a.patient_ref], self._by_ref[in_b.patient_ref]
        self._adt("A08", pa, free, prior=a)
        self._adt("A08", pb, a, prior=b)
        self._adt("A08", pa, b, prior=free)
        self.census.correct([a, b])

    def _free_bed(self) -> str | None:
        return next((bed for bed in sorted(self.patients) if self.census.assigned(bed) is None
                     and self.census.occupant(bed) is None), None)

    def _adt(self, event: str, patient: _Patient, bed: str | None, *, prior: str | None = None,
             at_s: float | None = None) -> None:
        n = sum(self.sent.values()) + 1
        control_id = f"SIM{event}{n:06d}"  # deterministic: a resumed run's repeat is answered as one
        raw = hl7.adt(event, control_id, patient.identifier, self.clock.now_s() if at_s is None else at_s,
                      ward=self._ward_of.get(bed) if bed else None, bed=bed,
                      prior_ward=self._ward_of.get(prior) if prior else None, prior_bed=prior)
        self._send(f"ADT^{event}", event, control_id, raw, f"patient {patient.model.patient_ref}, bed {bed or '-'}")

    # ---- orders ---------------------------------------------------------------------------------

    def _send_new_orders(self, now_s: float) -> bool:
        sent = False
        for sample_id, order in list(self._lab.orders.items()):
            if sample_id in self._orders_sent:
                continue
            self._orders_sent.add(sample_id)
            patient = self._by_ref.get(order.patient_ref)
            if patient is None:
                continue
            stat = order.priority == "S"
            self._order("NW", patient, order, stat)
            self.orders["stat" if stat else "routine"] += 1
            sent = True
            if stat and self.settings.cancel_first_stat_after_min is not None and "cancel_scheduled" not in self.orders:
                self.orders["cancel_scheduled"] += 1
                self._cancels.append((now_s + self.settings.cancel_first_stat_after_min * 60.0, sample_id))
        return sent

    def _order(self, control: str, patient: _Patient, order: Any, stat: bool) -> str:
        n = sum(self.sent.values()) + 1
        control_id = f"SIMO21{n:06d}"
        bed = patient.model.current_bed_id
        raw = hl7.specimen_order(control, control_id, patient.identifier, self.clock.now_s(),
                                 ward=self._ward_of.get(bed), bed=bed, sample_id=str(order.sample_id),
                                 tests=tuple(order.tests), specimen=str(order.specimen), stat=stat)
        return self._send(f"OML^O21 {control}", f"O21-{control}", control_id, raw,
                          f"order {order.sample_id}", allow_206=control == "CA")

    def _cancel(self, sample_id: str) -> None:
        order = self._lab.orders.get(sample_id)
        patient = self._by_ref.get(order.patient_ref) if order is not None else None
        if order is None or patient is None:
            return
        code = self._order("CA", patient, order, order.priority == "S")
        if code != "AA":  # AE 206: the pick-up is already under way; the tube goes on to the lab
            self.orders["cancel_refused"] += 1
            return
        self.orders["cancelled"] += 1
        # the order is withdrawn: the LIS drops it and the nurse takes the tube back off the station
        del self._lab.orders[sample_id]
        for handover in self._lab.site.pending.get(order_station(self._lab, order) or "", []):
            handover.tubes[:] = [t for t in handover.tubes if t.sample_id != sample_id]

    # ---- the wire -------------------------------------------------------------------------------

    def _send(self, what_type: str, counter: str, control_id: str, raw: bytes, about: str, *,
              allow_206: bool = False) -> str:
        assert self._client is not None
        what = f"{what_type} {control_id}"
        self.sent[counter] += 1
        try:
            reply = parse_ack(self._client.send(raw))
        except (OSError, FramingError, BadAck) as exc:  # (TimeoutError is an OSError)
            raise HisFeedError(f"{what}: no ACK from the HIS link ({type(exc).__name__}: {exc})") from None
        self.acks[reply.code] += 1
        if reply.control_id != control_id:
            raise HisFeedError(f"{what}: the ACK answers control id {reply.control_id!r}")
        if reply.code != "AA" and not (allow_206 and reply.error_code == "206"):
            raise HisFeedError(f"{what} ({about}) answered {reply.code} {reply.error_code}: {reply.reason}")
        return reply.code


def order_station(lab: Any, order: Any) -> str | None:
    """The station where the order's tube waits (None: already handed over)."""
    for station, handovers in lab.site.pending.items():
        if any(t.sample_id == order.sample_id for h in handovers for t in h.tubes):
            return str(station)
    return None
