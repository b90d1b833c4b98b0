"""The lab's side of the simulation: tubes and their labels, the true analyte values of each
patient, the control materials, the robot's racks, the nurses at the stations, and the lab
incidents a scenario seeds (a critical value, a QC failure, a fridge excursion).

Labels are rendered as images — a QR code on a tube's label, seen by the label camera with blur,
noise, a slight turn of the tube and sometimes a finger or the rack's edge over part of the code —
so the real OpenCV decoder (`hal.drivers.opencv_tags`) is what reads them.

All lab state of one simulation hangs off its `SimEnvironment` (`lab_site(env)`), so the
workload, the tube handler, the centrifuge, the analyzers and the fridge see the same tubes.
Randomness comes from `env.rng_for(...)` only: same seed, same tubes, same values.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from missions.lab.orders import qc_label, specimen_label
from missions.lab.reference import TEST_MENU, Specimen, flag_for, reference_text
from sim.camera_noise import camera_effects
from sim.environment import SimEnvironment
from sim.patients import stable_int
from sim.wristband import encode_qr

Image = npt.NDArray[np.uint8]

CHEMISTRY_PANELS: tuple[tuple[str, ...], ...] = (
    ("GLU", "K", "NA", "CREA"),
    ("K", "NA", "CREA"),
    ("CRP",),
    ("GLU", "K", "NA", "CREA", "CRP"),
    ("TROP",),
)
HAEMATOLOGY_PANEL = ("HB", "WBC", "PLT")

#: population values per test: (mean, sd, decimals), kept inside the critical limits
POPULATION: dict[str, tuple[float, float, int]] = {
    "GLU": (5.6, 1.4, 1), "K": (4.3, 0.45, 1), "NA": (139.0, 3.5, 0), "CREA": (85.0, 30.0, 0),
    "CRP": (8.0, 12.0, 1), "TROP": (9.0, 8.0, 0), "HB": (132.0, 16.0, 0), "WBC": (8.0, 3.0, 1),
    "PLT": (250.0, 70.0, 0),
}

#: control materials: id → (analyzer, fridge position, {test: (assigned mean, sd)})
CONTROL_MATERIALS: dict[str, tuple[str, str, dict[str, tuple[float, float]]]] = {
    "QC-CHEM-1": ("chem", "qc:1", {"GLU": (5.5, 0.2), "K": (4.0, 0.1), "NA": (140.0, 1.5), "CREA": (90.0, 4.0),
                                   "CRP": (10.0, 0.6), "TROP": (20.0, 1.5)}),
    "QC-CHEM-2": ("chem", "qc:2", {"GLU": (16.0, 0.5), "K": (6.5, 0.15), "NA": (155.0, 2.0),
                                   "CREA": (450.0, 15.0), "CRP": (80.0, 4.0), "TROP": (300.0, 15.0)}),
    "QC-HAEM-1": ("haem", "qc:3", {"HB": (130.0, 2.5), "WBC": (7.0, 0.3), "PLT": (240.0, 10.0)}),
    "QC-HAEM-2": ("haem", "qc:4", {"HB": (80.0, 2.0), "WBC": (2.5, 0.15), "PLT": (60.0, 5.0)}),
}
#: how far a good analyzer's control results scatter, as a fraction of the assigned SD (the
#: manufacturer's ranges are wide), so an unshifted run practically never fails QC by chance
CONTROL_SCATTER_SD = 0.4


def control_params(analyzers: Sequence[str] = ("chem", "haem")) -> list[dict[str, Any]]:
    """The control materials as `lab_run` params (the lot insert's assigned values)."""
    return [
        {"material_id": mid, "analyzer": a, "position": pos, "targets": {t: list(v) for t, v in targets.items()}}
        for mid, (a, pos, targets) in CONTROL_MATERIALS.items() if a in analyzers
    ]


@dataclass
class Tube:
    label: str | None  # the payload printed on the label (None: an unlabelled balance tube)
    specimen: Specimen
    sample_id: str | None = None
    patient_ref: str | None = None
    centrifuged: bool = False
    label_damaged: bool = False  # smudged or torn: no decoder can read it

    @property
    def is_control(self) -> bool:
        return self.label is not None and self.label.startswith("MEDBOT-QC:")


@dataclass(frozen=True, slots=True)
class CalibrationShift:
    """A drifted calibration: `test` on `analyzer` reads `relative_bias` too high (or low)."""

    robot_id: str
    analyzer: str
    test: str
    relative_bias: float
    from_s: float
    until_s: float

    def active(self, now_s: float) -> bool:
        return self.from_s <= now_s < self.until_s


@dataclass(frozen=True, slots=True)
class FridgeExcursion:
    robot_id: str
    temperature_c: float
    from_s: float
    until_s: float


@dataclass
class LabCell:
    """One lab robot's racks: area → positions (a tube or None), and the gripper."""

    areas: dict[str, list[Tube | None]]
    gripper: tuple[str, Tube] | None = None

    def tube_at(self, position_name: str) -> Tube | None:
        area, index = _split(position_name)
        return self.areas[area][index - 1]

    def put(self, position_name: str, tube: Tube | None) -> None:
        area, index = _split(position_name)
        self.areas[area][index - 1] = tube

    def tubes_in(self, area: str) -> list[Tube]:
        return [t for t in self.areas.get(area, []) if t is not None]

    def free_positions(self, area: str) -> list[str]:
        return [f"{area}:{i}" for i, t in enumerate(self.areas[area], start=1) if t is None]


def _split(position_name: str) -> tuple[str, int]:
    area, _, index = position_name.rpartition(":")
    return area, int(index)


@dataclass
class Handover:
    station: str
    tubes: list[Tube]
    orders: list[dict[str, Any]]


@dataclass
class LabSite:
    env: SimEnvironment
    cells: dict[str, LabCell] = field(default_factory=dict)
    overrides: dict[tuple[str, str], float] = field(default_factory=dict)  # (patient_ref, test) → value
    shifts: list[CalibrationShift] = field(default_factory=list)
    excursions: list[FridgeExcursion] = field(default_factory=list)
    pending: dict[str, list[Handover]] = field(default_factory=dict)  # station → collections waiting
    nurses: dict[str, str] = field(default_factory=dict)  # station → staff ref on duty
    _sample_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- racks ---------------------------------------------------------------------------------

    def cell(self, robot_id: str, areas: dict[str, int] | None = None) -> LabCell:
        if robot_id not in self.cells:
            self.cells[robot_id] = LabCell({a: [None] * n for a, n in (areas or {}).items()})
        cell = self.cells[robot_id]
        for area, n in (areas or {}).items():
            cell.areas.setdefault(area, [None] * n)
        return cell

    def stock_controls(self, robot_id: str) -> None:
        """Control materials and the balance tube into their fridge/bench positions."""
        cell = self.cell(robot_id)
        for material_id, (_analyzer, position, _targets) in CONTROL_MATERIALS.items():
            if _split(position)[0] in cell.areas and cell.tube_at(position) is None:
                cell.put(position, Tube(qc_label(material_id), Specimen.SERUM, material_id, None, centrifuged=True))
        if "balance" in cell.areas and cell.tube_at("balance:1") is None:
            cell.put("balance:1", Tube(None, Specimen.SERUM, centrifuged=True))

    # -- samples -------------------------------------------------------------------------------

    def new_sample_id(self) -> str:
        return f"smp-{next(self._sample_counter):06d}"

    def new_tube(self, patient_ref: str, specimen: Specimen, *, sample_id: str | None = None,
                 label_damaged: bool = False) -> Tube:
        sample_id = sample_id or self.new_sample_id()
        return Tube(specimen_label(sample_id), specimen, sample_id, patient_ref, label_damaged=label_damaged)

    def true_value(self, patient_ref: str, test: str) -> float:
        """The patient's true value (stable for the day), inside the critical limits unless seeded."""
        if (patient_ref, test) in self.overrides:
            return self.overrides[(patient_ref, test)]
        mean, sd, decimals = POPULATION[test]
        rng = np.random.default_rng([self.env.seed & 0xFFFFFFFF, stable_int(patient_ref), stable_int(test)])
        definition = TEST_MENU[test]
        low = definition.critical_low if definition.critical_low is not None else 0.0
        high = definition.critical_high if definition.critical_high is not None else mean + 6 * sd
        value = float(rng.normal(mean, sd))
        # a margin inside the limits: instrument imprecision must not make an unseeded critical
        margin = 0.05 * (high - low)
        return round(min(max(value, low + margin, 0.0), high - margin), decimals)

    def seed_value(self, patient_ref: str, test: str, value: float) -> None:
        self.overrides[(patient_ref, test)] = value

    def bias(self, robot_id: str, analyzer: str, test: str, now_s: float) -> float:
        return sum(s.relative_bias for s in self.shifts
                   if s.robot_id == robot_id and s.analyzer == analyzer and s.test == test and s.active(now_s))

    def fridge_temperature_c(self, robot_id: str, now_s: float) -> float | None:
        for excursion in self.excursions:
            if excursion.robot_id == robot_id and excursion.from_s <= now_s < excursion.until_s:
                return excursion.temperature_c
        return None

    # -- nurse stations --------------------------------------------------------------------------

    def nurse_at(self, station: str) -> str:
        if station not in self.nurses:
            self.nurses[station] = f"st-{stable_int('nurse', station, self.env.seed) % 0xFFFFFF:06x}"
        return self.nurses[station]

    def hand_over(self, station: str) -> list[Tube]:
        """Every collection waiting at the station, oldest first (the nurse hands them all over)."""
        tubes = [t for h in self.pending.pop(station, []) for t in h.tubes]
        return tubes


_SITES: weakref.WeakKeyDictionary[SimEnvironment, LabSite] = weakref.WeakKeyDictionary()


def lab_site(env: SimEnvironment) -> LabSite:
    """The lab state of this simulation (created on first use)."""
    site = _SITES.get(env)
    if site is None:
        site = LabSite(env)
        _SITES[env] = site
    return site



# ---- what an analyzer measures ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    """One test on one tube as the instrument reports it: the fields of an ASTM R record."""

    test_code: str
    value: str  # as sent: "4.3", "CLOT"
    units: str
    reference_range: str
    flag: str  # "" for a control (QC is judged by the host), else N, L, H, LL, HH, or A


class LabInstrument:
    """What one analyzer of a lab robot measures, shared by the simulated backend
    (`sim.devices.analyzer`) and the ASTM instrument emulator (`sim.emulators.astm_analyzer`),
    so both answer the same values for the same tubes.

    It reads the tubes loaded in its rack area: a patient's true value with the instrument's
    imprecision (`cv_fraction`) and any calibration drift active at `done_s`, a control material
    around its assigned value, "CLOT" (flag A) for serum that was never centrifuged, nothing
    (None) for a sample that is not in the rack. Its random stream is the one the simulated
    backend of the same device name uses, so a seeded run measures the same either way.
    """

    def __init__(self, env: SimEnvironment, robot_id: str, analyzer: str, *, load_area: str | None = None,
                 cv_fraction: float = 0.015) -> None:
        self.site = lab_site(env)
        self.robot_id = robot_id
        self.analyzer = analyzer
        self.load_area = load_area or analyzer
        self.cv_fraction = cv_fraction
        self.rng = env.rng_for(robot_id, analyzer)

    def loaded(self, sample_id: str) -> Tube | None:
        cell = self.site.cell(self.robot_id)
        return next((t for t in cell.tubes_in(self.load_area) if t.sample_id == sample_id), None)

    def measure(self, sample_id: str, patient_ref: str, tests: Sequence[str], *, is_qc: bool,
                done_s: float) -> tuple[Measurement, ...] | None:
        """Every test of one sample, or None when its tube is not loaded."""
        tube = self.loaded(sample_id)
        if tube is None:
            return None
        return tuple(self._measure(tube, sample_id, patient_ref, code, is_qc, done_s) for code in tests)

    def _measure(self, tube: Tube, sample_id: str, patient_ref: str, code: str, is_qc: bool,
                 done_s: float) -> Measurement:
        definition = TEST_MENU[code]
        decimals = POPULATION[code][2]
        if definition.specimen is Specimen.SERUM and not tube.centrifuged:
            return Measurement(code, "CLOT", definition.units, reference_text(definition), "A")
        if is_qc:
            mean, sd = CONTROL_MATERIALS[sample_id][2][code]
            value = mean + CONTROL_SCATTER_SD * sd * float(self.rng.standard_normal())
        else:
            true = self.site.true_value(patient_ref, code)
            value = true * (1.0 + self.cv_fraction * float(self.rng.standard_normal()))
        value *= 1.0 + self.site.bias(self.robot_id, self.analyzer, code, done_s)
        value = round(max(value, 0.0), decimals)
        flag = "" if is_qc else flag_for(definition, value)
        return Measurement(code, f"{value:.{decimals}f}", definition.units, reference_text(definition), flag)

# ---- label images ------------------------------------------------------------------------------

_RACK_BGR = (70, 74, 80)
_TUBE_BGR = (225, 230, 232)
_LABEL_BGR = (245, 245, 242)
_CAP_BGR = {Specimen.SERUM: (40, 170, 220), Specimen.WHOLE_BLOOD: (160, 80, 150)}  # gold / lavender


def render_tube_frame(
    payload: str | None,
    rng: np.random.Generator,
    *,
    specimen: Specimen = Specimen.SERUM,
    width_px: int = 640,
    height_px: int = 480,
    blur_sigma_px: float = 1.0,
    noise_sigma: float = 4.0,
    occluded: bool = False,
    damaged: bool = False,
) -> Image:
    """A BGR view of a tube held up to the label camera, its label's QR code facing it.

    Realistic nuisances: the code sits at a random height and slight tilt, the tube's curvature
    shades its edges, and a mild partial cover (a gripper finger) may clip a corner; `occluded`
    covers most of the code (the label turned away / a finger over it), `damaged` smudges it.
    """
    frame = np.empty((height_px, width_px, 3), dtype=np.uint8)
    frame[:] = _RACK_BGR
    tube_w = int(width_px * 0.42)
    x0 = (width_px - tube_w) // 2 + int(rng.integers(-20, 21))
    cap_h = int(height_px * 0.12)
    frame[:cap_h, x0 - 6:x0 + tube_w + 6] = _CAP_BGR[specimen]
    # cylinder shading: darker towards both edges of the tube (the cap's and the tube's one row each)
    xs = np.linspace(-1.0, 1.0, tube_w, dtype=np.float32)
    shade = (1.0 - 0.25 * xs**2)[:, None]
    frame[:cap_h, x0:x0 + tube_w] = (np.array(_CAP_BGR[specimen], np.float32) * shade).astype(np.uint8)
    frame[cap_h:, x0:x0 + tube_w] = (np.array(_TUBE_BGR, np.float32) * shade).astype(np.uint8)
    if payload is not None:
        code = encode_qr(payload)
        module_px = int(rng.integers(5, 7))
        qr = cv2.resize(code, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
        side = qr.shape[0]
        label = np.empty((side + 40, side + 16, 3), dtype=np.uint8)
        label[:] = _LABEL_BGR
        for line in range(2):  # printed text lines under the code
            y = side + 8 + line * 14
            cv2.rectangle(label, (8, y), (8 + int(rng.integers(40, side)), y + 7), (50, 50, 50), -1)
        label[4:4 + side, 8:8 + side] = cv2.cvtColor(qr, cv2.COLOR_GRAY2BGR)
        if damaged:
            _smudge(label, rng, side)
        angle = float(rng.uniform(-6, 6))
        cx = x0 + tube_w / 2 + rng.uniform(-8, 8)
        cy = height_px * 0.55 + rng.uniform(-30, 30)
        scale = min(1.0, 0.9 * tube_w / label.shape[1], 0.8 * height_px / label.shape[0])
        matrix = cv2.getRotationMatrix2D((label.shape[1] / 2, label.shape[0] / 2), angle, scale)
        matrix[:, 2] += (cx - label.shape[1] / 2, cy - label.shape[0] / 2)
        # the label is drawn over the tube (pixels outside it keep the tube: a transparent border)
        cv2.warpAffine(label, matrix, (width_px, height_px), dst=frame, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_TRANSPARENT)
        qr_box = cv2.transform(np.array([[[8.0, 4.0], [8.0 + side, 4.0 + side]]]), matrix)[0]
        (qx0, qy0), (qx1, qy1) = qr_box.min(axis=0), qr_box.max(axis=0)
        if occluded:  # a gloved finger across most of the code
            cv2.rectangle(frame, (int(qx0) - 10, int(qy0) - 10), (int(qx1) + 10, int(qy0 + 0.65 * (qy1 - qy0))),
                          (120, 150, 190), -1)
        elif rng.random() < 0.3:  # the gripper finger clips a quiet-zone corner only
            cw = int(0.12 * (qx1 - qx0))
            cv2.rectangle(frame, (int(qx1) - cw + 12, int(qy1) - cw + 12), (int(qx1) + 20, int(qy1) + 20),
                          (90, 90, 95), -1)
    return camera_effects(frame, rng, blur_sigma_px, noise_sigma)


def _smudge(label: Image, rng: np.random.Generator, side: int) -> None:
    """Torn and smeared: two finder patterns gone, ink blotted over the data."""
    cv2.rectangle(label, (0, 0), (8 + side, 4 + side // 2), _LABEL_BGR, -1)
    for _ in range(6):
        x, y = int(rng.integers(8, 8 + side)), int(rng.integers(side // 2, side))
        cv2.circle(label, (x, y), int(rng.integers(6, 14)), (90, 90, 90), -1)
