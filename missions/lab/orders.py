"""The order book: test orders from the LIS and the control materials, as validated params, and
the specimen label format.

A tube's label carries ``MEDBOT-SPEC:<sample_id>`` (a pseudonymous specimen id, never a name);
a control material's carries ``MEDBOT-QC:<material_id>``. A label is matched to an order only by
its exact sample id: a tube without an order is rejected, never run on a guess.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from hal.analyzer import AnalyzerOrder, OrderPriority
from missions.lab.qc import ControlTarget
from missions.lab.reference import TEST_MENU, Specimen

SPECIMEN_LABEL_PREFIX = "MEDBOT-SPEC:"
QC_LABEL_PREFIX = "MEDBOT-QC:"
SAMPLE_ID_PATTERN = r"^smp-[0-9a-f]{6,32}$"
MATERIAL_ID_PATTERN = r"^QC-[A-Z0-9-]{1,32}$"
POSITION_PATTERN = r"^[a-z][a-z0-9_-]*:[0-9]{1,4}$"


def specimen_label(sample_id: str) -> str:
    return SPECIMEN_LABEL_PREFIX + sample_id


def qc_label(material_id: str) -> str:
    return QC_LABEL_PREFIX + material_id


class LabOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_id: str = Field(pattern=SAMPLE_ID_PATTERN)
    patient_ref: str = Field(pattern=r"^pt-[0-9a-f]{6,32}$", description="pseudonymous, never a name")
    specimen: Specimen
    tests: tuple[str, ...] = Field(min_length=1, max_length=16)
    priority: Literal["R", "S"] = "R"

    @model_validator(mode="after")
    def _tests_fit_specimen(self) -> LabOrder:
        for code in self.tests:
            if code not in TEST_MENU:
                raise ValueError(f"unknown test {code!r} (menu: {', '.join(TEST_MENU)})")
            if TEST_MENU[code].specimen is not self.specimen:
                raise ValueError(f"test {code} needs a {TEST_MENU[code].specimen} specimen, not {self.specimen}")
        if len(set(self.tests)) != len(self.tests):
            raise ValueError("a test is ordered twice")
        return self

    @property
    def needs_centrifuge(self) -> bool:
        return any(TEST_MENU[c].needs_centrifuge for c in self.tests)

    def analyzer_order(self) -> AnalyzerOrder:
        return AnalyzerOrder(self.sample_id, self.patient_ref, self.tests, OrderPriority(self.priority))


class ControlMaterial(BaseModel):
    """A QC material kept in the sample fridge at `position`, run on `analyzer` before patients."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    material_id: str = Field(pattern=MATERIAL_ID_PATTERN)
    analyzer: str = Field(min_length=1, max_length=64)  # the analyzer device's name
    position: str = Field(pattern=POSITION_PATTERN)
    targets: dict[str, tuple[float, float]]  # test → (mean, sd), from the lot's insert

    @field_validator("targets")
    @classmethod
    def _known_tests(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for code, (_mean, sd) in value.items():
            if code not in TEST_MENU:
                raise ValueError(f"unknown test {code!r} (menu: {', '.join(TEST_MENU)})")
            if sd <= 0:
                raise ValueError(f"{code}: the SD must be positive")
        return value

    def control_targets(self) -> dict[str, ControlTarget]:
        return {code: ControlTarget(mean, sd) for code, (mean, sd) in self.targets.items()}

    def analyzer_order(self) -> AnalyzerOrder:
        return AnalyzerOrder(self.material_id, "pt-000000", tuple(sorted(self.targets)), is_qc=True)


class OrderBook:
    """Orders by sample id (unique), in the order the LIS sent them, STAT first when asked."""

    def __init__(self, orders: Sequence[LabOrder]) -> None:
        self._orders: dict[str, LabOrder] = {}
        for order in orders:
            if order.sample_id in self._orders:
                raise ValueError(f"sample {order.sample_id} is ordered twice")
            self._orders[order.sample_id] = order

    def match_label(self, payload: str | None) -> LabOrder | None:
        """The order a label names, exactly; None for anything else (never a guess)."""
        if payload is None or not payload.startswith(SPECIMEN_LABEL_PREFIX):
            return None
        return self._orders.get(payload.removeprefix(SPECIMEN_LABEL_PREFIX))

    def get(self, sample_id: str) -> LabOrder:
        return self._orders[sample_id]

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._orders

    def __iter__(self) -> Iterator[LabOrder]:
        return iter(self._orders.values())

    def __len__(self) -> int:
        return len(self._orders)

    def run_order(self, sample_ids: Sequence[str]) -> list[str]:
        """STAT samples first, then in the given (rack) order."""
        return sorted(sample_ids, key=lambda s: (self._orders[s].priority != "S", sample_ids.index(s)))


class LabRunParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: list[LabOrder] = Field(max_length=200)
    controls: list[ControlMaterial] = Field(default_factory=list, max_length=20)
    #: QC is required before any patient result of an analyzer is released
    require_qc: StrictBool = True
    place: str | None = "clinical-lab"  # the bench; None: the robot is already there
    return_to_dock: StrictBool = True  # after the run, to charge
    input_area: str = "input"
    reject_area: str = "reject"
    hold_area: str = "hold"  # in the sample fridge
    waste_area: str = "waste"
    balance_position: str | None = "balance:1"
    label_reader: str = "label_reader"
    label_reads: int = Field(default=3, ge=1, le=10)
    fridge_low_c: float = 2.0
    fridge_high_c: float = 8.0
    spin_rcf_g: float = Field(default=1300.0, gt=0)
    spin_duration_s: float = Field(default=600.0, gt=0)
    spin_timeout_s: float = Field(default=1200.0, gt=0)
    move_timeout_s: float = Field(default=60.0, gt=0)
    move_attempts: int = Field(default=2, ge=1, le=5)
    analyzer_timeout_s: float = Field(default=900.0, gt=0)
    analyzer_attempts: int = Field(default=3, ge=1, le=5)
    analyzer_retry_wait_s: float = Field(default=30.0, ge=0)
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _unique(self) -> LabRunParams:
        OrderBook(self.orders)  # raises on a sample ordered twice
        ids = [c.material_id for c in self.controls]
        if len(set(ids)) != len(ids):
            raise ValueError("controls: a material appears twice")
        return self
