"""The hand-out ledger: what a medication round has loaded, handed out and returned, rebuilt from
the journal's committed steps so that a restart never opens a drawer twice.

Committed steps (journal step names):

- ``load`` — which drawer holds which bed's doses, and who loaded them;
- ``handout:<bed>`` — committed *before* the drawer unlocks;
- ``outcome:<bed>`` — given / not_given / needs_nurse_check, after the drawer is locked again;
- ``returned`` — what went back to the pharmacy.

A ``handout`` without an ``outcome`` means the robot stopped between unlock and confirmation:
nobody knows whether the patient took the doses, so the item ends "needs nurse check" and its
drawer is never unlocked again by this round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GIVEN = "given"
NOT_GIVEN = "not_given"
NEEDS_NURSE_CHECK = "needs_nurse_check"


@dataclass
class HandOutLedger:
    loaded: bool = False
    pharmacist_ref: str | None = None
    drawers: dict[str, str] = field(default_factory=dict)  # bed_id → drawer_id
    not_loaded: dict[str, str] = field(default_factory=dict)  # bed_id → reason
    handed_out: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    returned: dict[str, Any] | None = None

    def apply(self, step: str, data: dict[str, Any]) -> None:
        """Take one committed step (from this run or the journal)."""
        if step == "load":
            self.loaded = True
            self.pharmacist_ref = data.get("pharmacist_ref")
            self.drawers = dict(data.get("drawers", {}))
            self.not_loaded = dict(data.get("not_loaded", {}))
        elif step.startswith("handout:"):
            self.handed_out[step.removeprefix("handout:")] = data
        elif step.startswith("outcome:"):
            self.outcomes[step.removeprefix("outcome:")] = data
        elif step == "returned":
            self.returned = data

    def unresolved_hand_outs(self) -> list[str]:
        """Beds whose drawer was (maybe) unlocked with no outcome recorded: nurse check."""
        return [bed for bed in self.handed_out if bed not in self.outcomes]

    def may_unlock(self, bed_id: str) -> bool:
        """Only a loaded bed, never handed out before (in this run or before a restart)."""
        return bed_id in self.drawers and bed_id not in self.handed_out and bed_id not in self.outcomes

    def status(self, bed_id: str) -> str | None:
        outcome = self.outcomes.get(bed_id)
        return None if outcome is None else str(outcome["status"])

    def to_return(self) -> dict[str, str]:
        """Drawers whose doses go back to the pharmacy: not given, or uncertain (nurse check)."""
        return {bed: drawer for bed, drawer in self.drawers.items() if self.status(bed) != GIVEN}
