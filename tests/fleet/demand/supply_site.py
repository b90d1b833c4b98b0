"""A small site for the supply and patrol sources' tests: two wards with their utility rooms,
central supply, the pharmacy, the nurse stations, the car park's three bays (where the default
hospital has them) and the outpatient hall; a fake inventory system and asset register; a list as
`submit`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fleet.demand import DemandContext
from fleet.site import SiteMap, site_from_json
from fleet.tasks import TaskRequest

#: 2026-01-05 00:00 UTC, the simulator's day
DAY_S = 1767571200.0
HOUR_S = 3600.0

# name, kind, ward, x, y
_PLACES = [
    ("ward-a-bed-01", "bed", "ward-a", 2.0, 58.0),
    ("ward-a-utility", "storage", None, 40.0, 52.0),
    ("ward-a-nurse-station", "nurse_station", None, 22.0, 40.0),
    ("ward-b-bed-01", "bed", "ward-b", 54.0, 58.0),
    ("ward-b-utility", "storage", None, 92.0, 52.0),
    ("ward-b-nurse-station", "nurse_station", None, 74.0, 40.0),
    ("central-supply", "storage", None, 60.0, 36.0),
    ("pharmacy", "pharmacy_counter", None, 8.0, 36.0),
    ("outpatient-reception", "reception", None, 88.0, 24.0),
    ("main-entrance", "entrance", None, 98.0, 30.0),
    ("car-park-bay-1", "parking", None, 112.0, 20.0),
    ("car-park-bay-2", "parking", None, 112.0, 40.0),
    ("car-park-bay-3", "parking", None, 120.0, 30.0),
]


def site() -> SiteMap:
    """Places are route nodes; the graph is a chain in list order (the car park bays hang off the
    entrance, so walking them is straight-line only)."""
    nodes: list[dict[str, Any]] = [{"name": name, "x_m": x, "y_m": y} for name, _, _, x, y in _PLACES]
    chain = [n for n in nodes if not n["name"].startswith("car-park")]
    edges = [{"from": a["name"], "to": b["name"], "length_m": 10.0} for a, b in itertools.pairwise(chain)]
    places = [{"name": name, "kind": kind, "x_m": x, "y_m": y, "ward": ward, "zone": ward or name, "bed_id": None}
              for name, kind, ward, x, y in _PLACES]
    return site_from_json({"format": "medbot.map/1", "name": "test-site", "places": places,
                           "routes": {"nodes": nodes, "edges": edges}})


@dataclass
class Line:
    item: str
    supplied_from: str
    on_hand: int
    reorder_point: int
    par_level: int


def default_lines() -> dict[str, list[Line]]:
    return {
        "ward-a": [
            Line("gauze", "central-supply", 30, 10, 40),
            Line("gloves", "central-supply", 3, 10, 30),  # below its reorder point
            Line("heparin", "pharmacy", 2, 5, 20),  # below its reorder point
            Line("paracetamol", "pharmacy", 15, 5, 20),
            Line("syringes", "central-supply", 9, 10, 50),  # below its reorder point
        ],
        "ward-b": [
            Line("gauze", "central-supply", 35, 10, 40),  # 88 % of par
            Line("gloves", "central-supply", 20, 10, 30),  # 67 %
            Line("paracetamol", "pharmacy", 18, 5, 20),
            Line("syringes", "central-supply", 30, 10, 50),  # 60 %
        ],
    }


@dataclass
class FakeStock:
    wards: dict[str, list[Line]] = field(default_factory=default_lines)
    stores: dict[str, str] = field(default_factory=lambda: {"ward-a": "ward-a-utility", "ward-b": "ward-b-utility"})

    def lines(self, ward: str) -> list[Line]:
        return list(self.wards.get(ward, []))

    def receiving_place(self, ward: str) -> str | None:
        return self.stores.get(ward)

    def line(self, ward: str, item: str) -> Line:
        return next(ln for ln in self.wards[ward] if ln.item == item)


@dataclass(frozen=True)
class Asset:
    asset_id: str
    tag_id: str
    kind: str
    room: str


@dataclass
class FakeRegister:
    entries: list[Asset] = field(default_factory=lambda: [
        Asset("FA-0001", "E280-00000001", "infusion-pump", "central-supply"),
        Asset("FA-0002", "E280-00000002", "wheelchair", "ward-b-utility"),
        Asset("FA-0003", "E280-00000003", "patient-monitor", "ward-b-utility"),
        Asset("FA-0004", "E280-00000004", "ecg-cart", "ward-a-nurse-station"),
    ])

    def assets(self) -> list[Asset]:
        return list(self.entries)


def context(submitted: list[TaskRequest], start_s: float, *, stock: Any = None, register: Any = None,
            hospital: dict[str, Any] | None = None) -> DemandContext:
    info = {"ward_stock": stock if stock is not None else FakeStock(),
            "asset_register": register if register is not None else FakeRegister()}
    return DemandContext(site=site(), seed=1, start_s=start_s, end_s=None, submit=submitted.append,
                         hospital=info if hospital is None else hospital)


def at(hour: float, day: int = 0) -> float:
    return DAY_S + day * 86400.0 + hour * HOUR_S
