"""Small helpers shared by the demand sources (and the simulated hospital's settings): settings
checked with the field named, task ids, the hospital information a source needs, places and wards
checked against the site map. Not a demand source itself (no `build`); times of day and the stamps
in task ids are `fleet.demand.daily`'s."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pydantic

from fleet.demand import DemandContext, DemandError
from fleet.site import SiteMap
from fleet.tasks import TASK_ID_RE

M = TypeVar("M", bound=pydantic.BaseModel)
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


class Strict(pydantic.BaseModel):
    """Settings models: unknown keys are errors (a typo must not silently mean the default)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def parse_settings(model: type[M], source: str, settings: Mapping[str, Any], *, section: str = "demand",
                   error: type[ValueError] = DemandError) -> M:
    """Validate a source's settings; the error names the first bad field as the config spells it
    (``demand.lab_pickups.pickup_interval_h: Input should be greater than 0``). The simulated
    hospital's parts use it too, with their section and error (``hospital.lab.stations.0: ...``)."""
    try:
        return model.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise error(f"{section}.{source}{'.' + loc if loc else ''}: {first['msg']}") from None


def task_id(*parts: str) -> str:
    """Join parts into a valid task id; characters an id may not hold become ``_``; an id over
    100 characters keeps its head and a hash of the whole (still unique, still readable)."""
    text = _UNSAFE.sub("_", "-".join(parts))
    if len(text) > 100:
        text = f"{text[:90]}-{hashlib.sha256(text.encode()).hexdigest()[:9]}"
    assert TASK_ID_RE.fullmatch(text), text
    return text


def opaque(ref: str, length: int = 12) -> str:
    """A stable, non-reversible token for a pseudonymous reference, for task ids: task ids reach
    every operator (the `tasks` topic, the dashboard), patient and case references must not."""
    return hashlib.sha256(f"medbot-fleet:{ref}".encode()).hexdigest()[:length]


def hospital_info(ctx: DemandContext, source: str, key: str, *methods: str) -> Any:
    """The hospital information object `key`, checked to offer `methods` (a missing one is a
    configuration error at start, not an AttributeError at 14:00)."""
    info = ctx.hospital.get(key)
    missing = [m for m in methods if info is None or not callable(getattr(info, m, None))]
    if info is None or missing:
        raise DemandError(f"demand.{source}: needs the hospital's {key!r} information (an object with "
                          f"{', '.join(f'{m}()' for m in methods)}); offered: "
                          f"{', '.join(sorted(ctx.hospital)) or 'nothing'}")
    return info


def check_place(site: SiteMap, source: str, field_path: str, place: str) -> None:
    if place not in site.places:
        raise DemandError(f"demand.{source}.{field_path}: no place {place!r} on site map {site.name!r}")


def site_zones(site: SiteMap) -> set[str]:
    return {z for p in site.places.values() for z in (p.zone, p.ward) if z}


def choose_wards(source: str, site: SiteMap, wards: list[str] | None, exclude: Sequence[str] = ()) -> list[str]:
    """The wards a source serves: the settings' (checked against the site map), or every ward of the
    site; never the excluded ones."""
    known = site.wards()
    if wards is None:
        return [w for w in known if w not in exclude]
    unknown = sorted(set(wards) - set(known))
    if unknown:
        raise DemandError(f"demand.{source}.wards: unknown ward {unknown[0]!r}; the site has "
                          f"{', '.join(known) or 'no wards'}")
    return sorted(set(wards) - set(exclude))
