"""Seeded outbreak cases in the isolation rooms: who the survey robot interviews, and what they say.

Each isolation-ward patient is a confirmed case reported at some hour of the day. A case's
answers follow the WHO case report form / China CDC investigation (DOMAIN.md §5): onset date,
symptoms with the highest temperature, 14-day travel, health-facility visits, contact with
confirmed cases, and close contacts (relation, type of contact) — a repeating group. Some cases
refuse consent and one does not respond at all. The named people (contacts) are synthetic test
names: the robot must never emit them (tests scan for them), only `ct-` references.

The simulated touchscreen reads the case of the patient in front of the robot from here; the
epi workload installs the outbreak it dispatches surveys for (`install_outbreak`).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from sim.environment import SimEnvironment
from sim.patients import stable_int

#: synthetic people the subjects name (never real persons); tests scan emitted data for them
CONTACT_NAMES = (
    "Zhao Lanfang", "Qian Jianguo", "Sun Meiling", "Li Haoran", "Zhou Xiuying", "Wu Zhiqiang",
    "Zheng Yuting", "Wang Dehua", "Feng Shuhui", "Chen Guoliang", "Chu Wenjing", "Wei Kaixuan",
)
RELATIONS = ("household", "family", "friend", "colleague", "healthcare worker", "other")
CONTACT_TYPES = ("shared meal", "same room", "same ward", "care", "visit", "transport")
TRAVEL_PLACES = ("Wuhan", "Guangzhou", "Harbin", "Kunming", "Xi'an")
FACILITIES = ("community health centre", "district hospital fever clinic", "private clinic")
ISOLATION_WARD = "isolation"
_REPEAT = re.compile(r"^(?P<group>[a-z_]+)\[(?P<i>\d+)\]\.(?P<field>[a-z_]+)$")


@dataclass(frozen=True, slots=True)
class NamedContact:
    name: str
    relation: str
    contact_type: str
    last_contact_date: str


@dataclass(frozen=True, slots=True)
class OutbreakCase:
    patient_ref: str
    bed_id: str
    case_ref: str
    reported_s: float  # when the case was reported (the 24-hour clock starts here)
    consents: bool
    responsive: bool
    answer_delay_s: float  # how long this person takes per touch
    answers: dict[str, str]  # question_id → answer (flat questions)
    contacts: tuple[NamedContact, ...]

    def answer(self, question_id: str) -> str | None:
        """What this person enters for a question (None: they do not answer it)."""
        if not self.responsive:
            return None
        if question_id == "consent":
            return "yes" if self.consents else "no"
        match = _REPEAT.match(question_id)
        if match is None:
            return self.answers.get(question_id)
        i = int(match["i"])
        if match["group"] != "close_contact" or i >= len(self.contacts):
            return None
        contact = self.contacts[i]
        return {
            "name": contact.name,
            "relation": contact.relation,
            "contact_type": contact.contact_type,
            "last_date": contact.last_contact_date,
            "more": "yes" if i + 1 < len(self.contacts) else "no",
        }.get(match["field"])


class Outbreak:
    def __init__(self, cases: list[OutbreakCase]) -> None:
        self.cases = sorted(cases, key=lambda c: c.reported_s)
        self._by_ref = {c.patient_ref: c for c in cases}

    def case_for(self, patient_ref: str) -> OutbreakCase | None:
        return self._by_ref.get(patient_ref)

    @classmethod
    def seeded(
        cls,
        seed: int,
        beds: list[tuple[str, str]],  # (bed_id, patient_ref) of the isolation beds
        start_s: float,
        *,
        refusals: int = 1,
        non_responsive: int = 1,
        first_report_h: float = 0.5,
        report_interval_h: float = 2.5,
    ) -> Outbreak:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF,
                                                                           stable_int("outbreak")])))
        order = [int(i) for i in rng.permutation(len(beds))]
        refusing = set(order[:refusals])
        silent = set(order[refusals:refusals + non_responsive])
        cases = []
        for i, (bed_id, patient_ref) in enumerate(beds):
            reported_s = start_s + (first_report_h + i * report_interval_h) * 3600.0
            cases.append(_case(rng, seed, bed_id, patient_ref, reported_s,
                               consents=i not in refusing, responsive=i not in silent))
        return cls(cases)


def _day(epoch_s: float, days_before: int) -> str:
    return (datetime.fromtimestamp(epoch_s, tz=UTC) - timedelta(days=days_before)).date().isoformat()


def _case(rng: np.random.Generator, seed: int, bed_id: str, patient_ref: str, reported_s: float, *,
          consents: bool, responsive: bool) -> OutbreakCase:
    onset_days = int(rng.integers(2, 7))
    fever = bool(rng.random() < 0.8)
    answers = {
        "onset_date": _day(reported_s, onset_days),
        "fever": "yes" if fever else "no",
        "cough": "yes" if rng.random() < 0.6 else "no",
        "sore_throat": "yes" if rng.random() < 0.4 else "no",
        "short_breath": "yes" if rng.random() < 0.25 else "no",
    }
    if fever:
        answers["highest_temp_c"] = f"{float(rng.uniform(37.8, 39.8)):.1f}"
    travelled = bool(rng.random() < 0.5)
    answers["travel"] = "yes" if travelled else "no"
    if travelled:
        answers["travel_place"] = str(rng.choice(TRAVEL_PLACES))
        answers["travel_from"] = _day(reported_s, onset_days + 10)
        answers["travel_to"] = _day(reported_s, onset_days + 6)
    visited = bool(rng.random() < 0.4)
    answers["facility_visit"] = "yes" if visited else "no"
    if visited:
        answers["facility_name"] = str(rng.choice(FACILITIES))
        answers["facility_date"] = _day(reported_s, onset_days - 1)
    names = [str(n) for n in rng.permutation(CONTACT_NAMES)]
    confirmed = bool(rng.random() < 0.5)
    answers["confirmed_contact"] = "yes" if confirmed else "no"
    if confirmed:
        answers["confirmed_who"] = names.pop()
        answers["confirmed_first"] = _day(reported_s, onset_days + 5)
        answers["confirmed_last"] = _day(reported_s, onset_days + 3)
        answers["confirmed_setting"] = str(rng.choice(CONTACT_TYPES))
    n_contacts = int(rng.integers(1, 4))
    contacts = tuple(
        NamedContact(names.pop(), str(rng.choice(RELATIONS)), str(rng.choice(CONTACT_TYPES)),
                     _day(reported_s, int(rng.integers(0, onset_days + 1))))
        for _ in range(n_contacts)
    )
    answers["close_contacts"] = "yes"
    digest = stable_int("case", seed, bed_id)
    return OutbreakCase(
        patient_ref=patient_ref, bed_id=bed_id, case_ref=f"case-{digest:08x}", reported_s=reported_s,
        consents=consents, responsive=responsive, answer_delay_s=float(rng.uniform(4.0, 12.0)),
        answers=answers, contacts=contacts,
    )


_INSTALLED: weakref.WeakKeyDictionary[SimEnvironment, Outbreak] = weakref.WeakKeyDictionary()


def install_outbreak(env: SimEnvironment, outbreak: Outbreak) -> None:
    _INSTALLED[env] = outbreak


def isolation_beds(env: SimEnvironment) -> list[tuple[str, str]]:
    return [(p.bed_id, env.census.expected_ref(p.bed_id)) for p in env.world.beds(ISOLATION_WARD)
            if p.bed_id is not None]


def outbreak_for(env: SimEnvironment) -> Outbreak:
    """The installed outbreak, or the default one seeded from the environment."""
    if env not in _INSTALLED:
        start_s = min((p.start_s for p in env.census.patients()), default=env.clock.now_s())
        _INSTALLED[env] = Outbreak.seeded(env.seed, isolation_beds(env), start_s)
    return _INSTALLED[env]
