"""Patients arriving for imaging exams, and the imaging rooms they lie in.

- `ImagingPatient`: a pseudonymous patient on the table. Their offset from the detector centre
  drifts slowly (a random walk with a seeded velocity) and responds to spoken instructions ("Please
  move 3 centimetres to your left") partly, as a real patient does. A scripted patient may move
  during an exposure, which blurs the radiograph.
- `ImagingRoom`: door, staff in the controlled area, warning light, the patient, and the scripted
  "door opens mid-exposure" event. Devices and the workload advance it lazily to the clock's time.
- Rendering with OpenCV: the positioning camera's view (a gown marker on the patient's silhouette,
  seen from the ceiling) and radiographs whose exposure, noise and blur follow the technique factors
  and the patient's motion, so the robot's OpenCV metrics measure something real.

The rooms of one simulation hang off its `SimEnvironment` (`imaging_site(env)`), kept in a weak
map because the environment has no slot for a kind's extensions.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from sim.patients import WRISTBAND_PREFIX

Image = npt.NDArray[np.uint8]

#: the positioning camera's scale at the table (a calibration the robot knows too)
POSITIONING_MM_PER_PX = 2.0
MAX_OFFSET_MM = 90.0
_INSTRUCTION = re.compile(r"move (\d+(?:\.\d+)?) centimetres? (?:to(?:wards)? )?your (left|right|head|feet)")


@dataclass
class ImagingPatient:
    patient_ref: str
    accession_number: str
    offset_mm: tuple[float, float] = (0.0, 0.0)  # (+x towards the patient's left, +y towards the head)
    drift_mm_per_s: tuple[float, float] = (0.0, 0.0)
    compliance: float = 0.9  # fraction of an instructed move actually made
    thickness_cm: float = 22.0
    moves_during_exposures: int = 0  # scripted: this many exposures are spoiled by motion
    wristband_payload: str = ""

    def __post_init__(self) -> None:
        if not self.wristband_payload:
            self.wristband_payload = WRISTBAND_PREFIX + self.patient_ref

    def hear(self, text: str) -> bool:
        """Follow a positioning instruction if the text holds one; True when it did."""
        match = _INSTRUCTION.search(text.lower())
        if match is None:
            return False
        amount_mm = float(match.group(1)) * 10.0 * self.compliance
        dx, dy = {"left": (amount_mm, 0.0), "right": (-amount_mm, 0.0),
                  "head": (0.0, amount_mm), "feet": (0.0, -amount_mm)}[match.group(2)]
        self.offset_mm = _clamp_offset(self.offset_mm[0] + dx, self.offset_mm[1] + dy)
        return True

    def drift(self, dt_s: float, rng: np.random.Generator) -> None:
        vx, vy = self.drift_mm_per_s
        jitter = rng.normal(0.0, 0.3, size=2) * math.sqrt(max(dt_s, 0.0))
        self.offset_mm = _clamp_offset(self.offset_mm[0] + vx * dt_s + float(jitter[0]),
                                       self.offset_mm[1] + vy * dt_s + float(jitter[1]))


def _clamp_offset(x: float, y: float) -> tuple[float, float]:
    return (max(-MAX_OFFSET_MM, min(MAX_OFFSET_MM, x)), max(-MAX_OFFSET_MM, min(MAX_OFFSET_MM, y)))


def random_patient(rng: np.random.Generator, patient_ref: str, accession_number: str, **kwargs: Any) -> ImagingPatient:
    """A patient lying down off-centre, drifting slowly, mostly compliant."""
    angle = float(rng.uniform(0, 2 * math.pi))
    r_mm = float(rng.uniform(15, 60))
    speed = float(rng.uniform(0.1, 0.6))
    heading = float(rng.uniform(0, 2 * math.pi))
    return ImagingPatient(
        patient_ref, accession_number,
        offset_mm=(r_mm * math.cos(angle), r_mm * math.sin(angle)),
        drift_mm_per_s=(speed * math.cos(heading), speed * math.sin(heading)),
        compliance=float(rng.uniform(0.75, 1.0)), thickness_cm=float(rng.uniform(18, 28)), **kwargs,
    )


@dataclass
class ImagingRoom:
    """One imaging room's world state. `advance(now_s)` is idempotent for a given time."""

    name: str  # the place name (radiology-xray, radiology-ultrasound)
    rng: np.random.Generator
    door_closed: bool = True
    staff_present: int = 0
    warning_light_on: bool = False
    patient: ImagingPatient | None = None
    #: scripted: open the door once while the next exposure of this accession is on
    open_door_during_exposure_of: str | None = None
    exposing: bool = False
    exposing_accession: str | None = None
    dap_delivered_mgy_cm2: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)
    _last_s: float | None = None
    _listeners: list[Callable[[], list[tuple[float, str]]]] = field(default_factory=list)
    _heard_until_s: float = -math.inf
    _bound_speakers: set[str] = field(default_factory=set)
    #: the room's equipment registers how a service engineer clears it (after a failed self-test)
    service_hooks: list[Callable[[str], None]] = field(default_factory=list)
    door_reclose_after_s: float = 20.0
    _reclose_at_s: float | None = None

    def listen_to(self, utterances: Callable[[], list[tuple[float, str]]]) -> None:
        """A source of (stamp_s, text) the patient in the room hears (the robot's speaker)."""
        self._listeners.append(utterances)

    def advance(self, now_s: float) -> None:
        if self._last_s is None:
            self._last_s = now_s
        dt_s = now_s - self._last_s
        if dt_s > 0 and self.patient is not None:
            self.patient.drift(dt_s, self.rng)
        self._last_s = max(self._last_s, now_s)
        latest = self._heard_until_s
        for source in self._listeners:
            for stamp_s, text in source():
                if stamp_s > self._heard_until_s and stamp_s <= now_s:
                    if self.patient is not None:
                        self.patient.hear(text)
                    latest = max(latest, stamp_s)
        self._heard_until_s = latest

    def admit(self, patient: ImagingPatient, now_s: float) -> None:
        self.advance(now_s)
        self.patient = patient
        self.events.append((now_s, f"admitted {patient.accession_number}"))

    def discharge(self, now_s: float) -> None:
        if self.patient is not None:
            self.events.append((now_s, f"discharged {self.patient.accession_number}"))
        self.patient = None

    def set_exposing(self, on: bool, accession_number: str | None) -> None:
        self.exposing = on
        self.exposing_accession = accession_number if on else None

    def scripted_step(self, now_s: float) -> None:
        """Scripted disturbances, called by the workload before the robots step."""
        if self._reclose_at_s is not None and now_s >= self._reclose_at_s:
            self.door_closed, self._reclose_at_s = True, None  # whoever walked in leaves again
            self.events.append((now_s, "door closed again"))
        if (self.exposing and self.open_door_during_exposure_of is not None
                and self.exposing_accession == self.open_door_during_exposure_of):
            self.door_closed = False
            self.open_door_during_exposure_of = None
            self._reclose_at_s = now_s + self.door_reclose_after_s
            self.events.append((now_s, f"door opened during exposure of {self.exposing_accession}"))


class ImagingSite:
    """The imaging rooms of one simulation, by place name."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rooms: dict[str, ImagingRoom] = {}

    def room(self, name: str) -> ImagingRoom:
        if name not in self.rooms:
            seq = np.random.SeedSequence([self.seed & 0xFFFFFFFF, *name.encode()])
            self.rooms[name] = ImagingRoom(name, np.random.default_rng(seq))
        return self.rooms[name]


_SITES: weakref.WeakKeyDictionary[Any, ImagingSite] = weakref.WeakKeyDictionary()


def imaging_site(env: Any) -> ImagingSite:
    """The imaging rooms of this simulation environment (made on first use)."""
    site = _SITES.get(env)
    if site is None:
        site = ImagingSite(int(getattr(env, "seed", 0)))
        _SITES[env] = site
    return site


# ---- rendering ------------------------------------------------------------------------------------

_TABLE_BGR = (70, 70, 75)
_GOWN_BGR = (190, 170, 140)
_MARKER_BGR = (0, 110, 255)  # an orange disc printed on the gown over the exam's centre point


def render_positioning_frame(
    patient: ImagingPatient | None, rng: np.random.Generator, *, width_px: int = 320, height_px: int = 240,
    mm_per_px: float = POSITIONING_MM_PER_PX, noise_sigma: float = 3.0,
) -> Image:
    """The ceiling camera's view of the table: detector centre at the frame centre."""
    frame = np.empty((height_px, width_px, 3), dtype=np.float32)
    frame[:] = _TABLE_BGR
    if patient is not None:
        # image x grows to the patient's left (camera looks down), image y down = towards the feet
        cx = width_px / 2 + patient.offset_mm[0] / mm_per_px
        cy = height_px / 2 - patient.offset_mm[1] / mm_per_px
        cv2.ellipse(frame, (round(cx), round(cy)), (round(110 / mm_per_px * 2), round(200 / mm_per_px * 2)),
                    0, 0, 360, _GOWN_BGR, -1)
        cv2.circle(frame, (round(cx), round(cy)), max(4, round(12 / mm_per_px)), _MARKER_BGR, -1)
    frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), 1.0), dtype=np.float32)
    noisy = frame + noise_sigma * rng.standard_normal(size=frame.shape, dtype=np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _phantom(size_px: int) -> npt.NDArray[np.float32]:
    """Attenuation (line integral) of a chest-like phantom: body, lungs, spine, ribs, heart."""
    mu = np.zeros((size_px, size_px), dtype=np.float32)
    c = size_px // 2
    cv2.ellipse(mu, (c, c), (int(size_px * 0.42), int(size_px * 0.46)), 0, 0, 360, 1.6, -1)
    for side in (-1, 1):
        cv2.ellipse(mu, (c + side * int(size_px * 0.18), c - int(size_px * 0.04)),
                    (int(size_px * 0.13), int(size_px * 0.3)), 0, 0, 360, 0.6, -1)
    cv2.ellipse(mu, (c + int(size_px * 0.05), c + int(size_px * 0.12)), (int(size_px * 0.12), int(size_px * 0.1)),
                0, 0, 360, 1.5, -1)
    cv2.rectangle(mu, (c - int(size_px * 0.035), int(size_px * 0.06)), (c + int(size_px * 0.035), size_px - 10),
                  2.6, -1)
    for i in range(8):
        y = int(size_px * (0.2 + i * 0.075))
        for side in (-1, 1):
            cv2.ellipse(mu, (c, y), (int(size_px * 0.33), int(size_px * 0.06)), 0,
                        90 - side * 90 + (20 if side > 0 else 0), 90 - side * 90 + (160 if side > 0 else 180),
                        2.2, 2)
    return mu


_PHANTOM_CACHE: dict[int, npt.NDArray[np.float32]] = {}


def render_radiograph(
    *, tube_voltage_kv: float, current_time_product_mas: float, thickness_cm: float, motion_mm: float,
    rng: np.random.Generator, size_px: int = 256, mm_per_px: float = 1.5,
) -> Image:
    """A detector image: signal from the technique (mAs, kV) through the patient, quantum noise,
    and a linear motion blur as long as the patient moved during the exposure."""
    if size_px not in _PHANTOM_CACHE:
        _PHANTOM_CACHE[size_px] = _phantom(size_px)
    mu = _PHANTOM_CACHE[size_px] * (thickness_cm / 22.0) * (80.0 / tube_voltage_kv) ** 1.5
    # detector dose index: 1.0 is the technique chart's aim for a 22 cm patient at 120 kV, 2 mAs
    dose_index = current_time_product_mas / 2.0 * (tube_voltage_kv / 120.0) ** 2 * math.exp(-(thickness_cm - 22) / 8)
    signal = 205.0 * dose_index * np.exp(-mu + 0.9).astype(np.float32) / math.e ** 0.9
    noise_sigma = 6.0 / math.sqrt(max(dose_index, 1e-3))
    image = signal + noise_sigma * rng.standard_normal(size=signal.shape, dtype=np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 0.6)  # detector point spread
    length_px = motion_mm / mm_per_px
    if length_px >= 1.0:
        k = math.ceil(length_px) | 1
        kernel = np.zeros((k, k), dtype=np.float32)
        kernel[:, k // 2] = 1.0 / k  # breathing and slumping move the chest head-to-feet
        image = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
    # processing gain is fixed: under- and over-exposure show in the histogram, as they should
    return np.clip(image, 0, 255).astype(np.uint8)


def render_ultrasound_frame(rng: np.random.Generator, *, size_px: int = 192, contact: bool = True) -> Image:
    """A B-mode-like sector of speckle with a dark cyst; black when the probe is off the skin."""
    if not contact:
        return np.zeros((size_px, size_px), dtype=np.uint8)
    speckle = rng.rayleigh(40.0, size=(size_px, size_px)).astype(np.float32)
    cv2.circle(speckle, (size_px // 2, int(size_px * 0.6)), size_px // 8, 10.0, -1)
    mask = np.zeros((size_px, size_px), dtype=np.uint8)
    cv2.ellipse(mask, (size_px // 2, 0), (size_px, size_px), 0, 55, 125, 255, -1)
    return np.where(mask > 0, np.clip(speckle, 0, 255), 0).astype(np.uint8)
