"""Mission kinds by name, registered explicitly. No global singleton: `default_catalog()` builds a
new catalog each time, so a test or a robot kind can register its own missions."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from missions.base import Mission
from missions.nursing_round import NursingRound
from missions.return_to_dock import ReturnToDock


class UnknownMissionKind(KeyError):
    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.known = known

    def __str__(self) -> str:
        return f"unknown mission kind {self.kind!r}; known kinds: {', '.join(self.known) or '(none)'}"


class MissionCatalog:
    def __init__(self) -> None:
        self._kinds: dict[str, type[Mission]] = {}

    def register(self, mission_class: type[Mission]) -> type[Mission]:
        kind = mission_class.kind
        if kind in self._kinds:
            raise ValueError(
                f"mission kind {kind!r} is already registered (by {self._kinds[kind].__qualname__})"
            )
        self._kinds[kind] = mission_class
        return mission_class

    def get(self, kind: str) -> type[Mission]:
        try:
            return self._kinds[kind]
        except KeyError:
            raise UnknownMissionKind(kind, self.kinds()) from None

    def parse_params(self, kind: str, params: dict[str, Any]) -> BaseModel:
        """Validated params, or `MissionParamsError` naming the kind and the field."""
        return self.get(kind).parse_params(params)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __iter__(self) -> Iterator[type[Mission]]:
        return iter(self._kinds.values())


def default_catalog() -> MissionCatalog:
    """A new catalog with every mission shipped: the nursing round, return-to-dock, and every
    module of this package that declares `MISSIONS = (MissionClass, ...)` (name order)."""
    catalog = MissionCatalog()
    catalog.register(NursingRound)
    catalog.register(ReturnToDock)
    for mission in discovered_missions():
        catalog.register(mission)
    return catalog


def discovered_missions() -> list[type[Mission]]:
    import missions

    found: list[type[Mission]] = []
    for info in sorted(pkgutil.iter_modules(missions.__path__), key=lambda m: m.name):
        if info.ispkg:
            continue
        module = importlib.import_module(f"missions.{info.name}")
        found.extend(getattr(module, "MISSIONS", ()))
    return found
