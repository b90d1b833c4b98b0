"""The goal handle every navigator backend shares: a `DrivenHandle` whose outcome the navigator
sets, from its own controller (the simulated navigator) or from action callbacks (the Nav2
adapter)."""

from __future__ import annotations

from hal.handle import DrivenHandle
from hal.navigator import NavigationFeedback, NavigationResult


class NavigationGoalHandle(DrivenHandle[NavigationResult, NavigationFeedback]):
    """One navigation goal, driven by its navigator."""
