"""The three anteroom passages of a survey as door-by-door plans: in (outer door, anteroom, outer
door closed and read back, inner door, room, inner door), out of the room into the anteroom, and
out of the anteroom. `missions.epi.passage.Passage` runs them and keeps the two doors from ever
being open together. Plus the plain trips to and from the corridor (`go_to`)."""

from __future__ import annotations

from typing import Any

from hal.navigator import Navigator
from missions.epi.params import EpiSurveyParams
from missions.epi.passage import Action, Timing
from missions.timing import Attempts, navigation_attempts


def passage_plan(params: EpiSurveyParams, passage: str) -> list[Action]:
    """The actions of one passage ("enter", "leave_room" or "exit")."""
    p = params
    plans = {
        "enter": [Action("open", p.outer_door), Action("go", p.anteroom), Action("close", p.outer_door),
                  Action("open", p.inner_door), Action("go", p.room_place), Action("close", p.inner_door)],
        "leave_room": [Action("open", p.inner_door), Action("go", p.anteroom), Action("close", p.inner_door)],
        "exit": [Action("open", p.outer_door), Action("go", p.approach), Action("close", p.outer_door)],
    }
    return plans[passage]


def passage_timing(params: EpiSurveyParams) -> Timing:
    p = params
    return Timing(p.door_timeout_s, p.door_attempts, p.nav_timeout_s, p.nav_attempts, p.retry_wait_s)


def go_to(navigator: Navigator, place: str, params: EpiSurveyParams) -> Attempts[Any]:
    """Navigation to a named place outside the isolation area, retried within the survey's budget."""
    return navigation_attempts(navigator, place, timeout_s=params.nav_timeout_s,
                               max_attempts=params.nav_attempts, retry_wait_s=params.retry_wait_s)
