"""The hospital's supply side for the simulator: ward stock, staff who receive goods, fixed
assets with their tags, and the powered door that sticks.

One `LogisticsWorld` per simulation, shared by the logistics sim devices (through the
environment they are built with) and the logistics workload: `logistics_world(env)` creates it
on first use from the environment's seed, so the same seed gives the same stock, the same
missing and misplaced assets and the same staff every run. Staff are pseudonymous (``st-…``);
their PINs exist only here, standing in for the hospital's staff directory.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.environment import SimEnvironment
from sim.patients import stable_int

#: item code → (source place, description). Pharmacy items only come from the pharmacy.
ITEMS: dict[str, tuple[str, str]] = {
    "gloves-m-box": ("central-supply", "examination gloves M, box of 100"),
    "syringe-10ml": ("central-supply", "syringe 10 ml"),
    "gauze-10x10": ("central-supply", "gauze swab 10x10 cm, pack"),
    "iv-giving-set": ("central-supply", "IV giving set"),
    "saline-500ml": ("central-supply", "sodium chloride 0.9 % 500 ml"),
    "incontinence-pad": ("central-supply", "incontinence pad"),
    "paracetamol-500-pack": ("pharmacy", "paracetamol 500 mg, pack of 32"),
    "heparin-5000-vial": ("pharmacy", "heparin 5000 IU vial"),
}

#: receiving place of each ward (its utility room) and the ward it stocks
WARD_STORES: dict[str, str] = {"ward-a": "ward-a-utility", "ward-b": "ward-b-utility", "isolation": "isolation-utility"}
SOURCES = ("central-supply", "pharmacy")

#: rooms whose fixed assets the audit checks, in visiting order
AUDIT_ROOMS = ("central-supply", "ward-b-utility", "ward-b-nurse-station", "ward-a-nurse-station", "ward-a-utility")
ASSET_KINDS = ("infusion-pump", "patient-monitor", "wheelchair", "bladder-scanner", "ecg-cart")


@dataclass
class StockLine:
    ward: str
    item: str
    on_hand: int
    reorder_point: int
    par_level: int
    use_per_day: int


@dataclass(frozen=True, slots=True)
class StaffMember:
    staff_ref: str
    badge_id: str
    pin: str
    place: str  # where they receive or send goods
    role: str  # "supply", "pharmacist", "nurse"


@dataclass
class Asset:
    asset_id: str
    tag_id: str
    kind: str
    home_room: str  # where the register says it is
    actual_room: str | None  # where it really is (None: gone)


@dataclass(frozen=True, slots=True)
class Presentation:
    """One badge scan plus PIN at the robot's reader (test and scenario input injection)."""

    staff_ref: str
    pin: str | None = None  # None: the person's own, right PIN


@dataclass
class LogisticsWorld:
    seed: int
    stock: dict[tuple[str, str], StockLine]
    staff: list[StaffMember]
    assets: list[Asset]
    #: door name → (from_s, until_s) while it does not open
    stuck_doors: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: place → scripted presentations, used before anyone's default behaviour
    scripted: dict[str, list[Presentation]] = field(default_factory=dict)

    # -- staff -----------------------------------------------------------------------------------

    def staff_at(self, place: str) -> list[StaffMember]:
        return [s for s in self.staff if s.place == place]

    def staff_member(self, staff_ref: str) -> StaffMember | None:
        return next((s for s in self.staff if s.staff_ref == staff_ref), None)

    def by_badge(self, badge_id: str) -> StaffMember | None:
        return next((s for s in self.staff if s.badge_id == badge_id), None)

    def script(self, place: str, presentations: Sequence[Presentation]) -> None:
        self.scripted.setdefault(place, []).extend(presentations)

    def next_scripted(self, place: str) -> Presentation | None:
        queue = self.scripted.get(place)
        return queue.pop(0) if queue else None

    # -- doors -----------------------------------------------------------------------------------

    def stick_door(self, door: str, from_s: float, until_s: float) -> None:
        self.stuck_doors[door] = (from_s, until_s)

    def door_stuck(self, door: str, now_s: float) -> bool:
        window = self.stuck_doors.get(door)
        return window is not None and window[0] <= now_s < window[1]

    # -- stock -----------------------------------------------------------------------------------

    def ward_stock(self, ward: str) -> list[StockLine]:
        return [line for (w, _), line in sorted(self.stock.items()) if w == ward]

    def receive(self, ward: str, item: str, quantity: int) -> None:
        line = self.stock[(ward, item)]
        line.on_hand += quantity

    def consume(self, ward: str, item: str, quantity: int) -> int:
        line = self.stock[(ward, item)]
        used = min(line.on_hand, quantity)
        line.on_hand -= used
        return used

    # -- assets ----------------------------------------------------------------------------------

    def assets_in(self, room: str) -> list[Asset]:
        return [a for a in self.assets if a.actual_room == room]

    def missing(self) -> list[Asset]:
        return [a for a in self.assets if a.actual_room is None]

    def misplaced(self) -> list[Asset]:
        return [a for a in self.assets if a.actual_room is not None and a.actual_room != a.home_room]


def build_logistics_world(
    seed: int, *, wards: Sequence[str] = tuple(WARD_STORES), audit_rooms: Sequence[str] = AUDIT_ROOMS,
    assets_per_room: int = 3, missing: int = 2, misplaced: int = 2,
) -> LogisticsWorld:
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, stable_int("logistics-world")]))
    stock: dict[tuple[str, str], StockLine] = {}
    for ward in wards:
        for item in ITEMS:
            par = int(rng.integers(20, 61))
            reorder = par // 3
            # some lines start low, so the day's deliveries and suggestions have something to do
            on_hand = int(rng.integers(0, reorder + 1)) if rng.random() < 0.3 else int(rng.integers(reorder, par + 1))
            stock[(ward, item)] = StockLine(ward, item, on_hand, reorder, par, max(1, par // 4))
    staff: list[StaffMember] = []
    places = [*SOURCES, *(WARD_STORES[w] for w in wards if w in WARD_STORES)]
    for place in places:
        role = {"central-supply": "supply", "pharmacy": "pharmacist"}.get(place, "nurse")
        for _ in range(2):
            number = int(rng.integers(0, 16**6))
            pin = f"{int(rng.integers(0, 10_000)):04d}"
            staff.append(StaffMember(f"st-{number:06x}", f"badge-{number:06x}", pin, place, role))
    assets: list[Asset] = []
    for room in audit_rooms:
        for _ in range(assets_per_room):
            n = len(assets) + 1
            kind = ASSET_KINDS[int(rng.integers(0, len(ASSET_KINDS)))]
            assets.append(Asset(f"FA-{n:04d}", f"E280-{int(rng.integers(0, 16**8)):08X}", kind, room, room))
    order = rng.permutation(len(assets))
    for index in order[:missing]:
        assets[int(index)].actual_room = None
    for index in order[missing : missing + misplaced]:
        asset = assets[int(index)]
        others = [r for r in audit_rooms if r != asset.home_room]
        asset.actual_room = others[int(rng.integers(0, len(others)))]
    return LogisticsWorld(seed, stock, staff, assets)


_WORLDS: weakref.WeakKeyDictionary[SimEnvironment, LogisticsWorld] = weakref.WeakKeyDictionary()


def logistics_world(env: SimEnvironment) -> LogisticsWorld:
    """The simulation's logistics world, created from the environment's seed on first use."""
    world = _WORLDS.get(env)
    if world is None:
        wards = [w for w in WARD_STORES if w in env.world.wards() and WARD_STORES[w] in env.world.places]
        rooms = [r for r in AUDIT_ROOMS if r in env.world.places]
        world = build_logistics_world(env.seed, wards=wards, audit_rooms=rooms)
        _WORLDS[env] = world
    return world


def set_logistics_world(env: SimEnvironment, world: LogisticsWorld) -> None:
    """Use a hand-made world (tests, small worlds)."""
    _WORLDS[env] = world
