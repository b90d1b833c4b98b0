"""Laboratory analyzer, as the lab robot's host system sees it.

Shaped after ASTM E1394 (CLSI LIS2-A2) so that the ASTM E1381/E1394 driver in `hal/drivers/`
plugs in unchanged: the host sends orders (O records) for loaded samples; the instrument runs them
and sends results (R records) with flags; QC samples come back flagged as QC.

Every ordered test of a run ends in exactly one of three places of its `AnalyzerRun`:

- `results`: measured and reported (`AnalyzerResult`, a value as the instrument sent it);
- `not_done`: the analyzer said it cannot do it (`NotDone`, with its reason: "no sample in rack",
  "sample volume too low", "reagent K empty"; ASTM: order or result marked "X"). It is an answer,
  given at once, not a result: it never carries a value;
- `missing`: nothing came for it within the run's bounded timeout.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


class OrderPriority(enum.StrEnum):
    ROUTINE = "R"
    STAT = "S"


@dataclass(frozen=True, slots=True)
class AnalyzerOrder:
    sample_id: str  # the tube's specimen barcode (pseudonymous; never a name)
    patient_ref: str  # pt-xxxxxx
    test_codes: tuple[str, ...]  # universal test ids, e.g. ("GLU", "K", "NA")
    priority: OrderPriority = OrderPriority.ROUTINE
    is_qc: bool = False  # a control material, not a patient sample


@dataclass(frozen=True, slots=True)
class AnalyzerResult:
    sample_id: str
    test_code: str
    value: str  # as the instrument sent it ("5.4", "<0.1", "HEMOLYZED")
    units: str  # "mmol/L"
    reference_range: str  # "3.5 to 5.1" as sent
    abnormal_flags: str  # "", "N", "L", "H", "LL", "HH", "A"
    status: str  # "F" final, "C" correction, ...
    instrument: str
    completed_s: float
    is_qc: bool = False

    def numeric_value(self) -> float | None:
        try:
            return float(self.value)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class NotDone:
    """An ordered test the analyzer reports it cannot do (no sample, too little, a clot, a reagent
    out...), with its reason in the analyzer's own words."""

    sample_id: str
    test_code: str
    reason: str  # as the analyzer gave it; "" when it gave none
    instrument: str
    reported_s: float
    is_qc: bool = False


@dataclass(frozen=True, slots=True)
class AnalyzerRun:
    """What came back for one batch of orders: each ordered (sample_id, test_code) is in exactly one
    of `results`, `not_done` and `missing`, each in order of the orders."""

    results: tuple[AnalyzerResult, ...]
    missing: tuple[tuple[str, str], ...]  # (sample_id, test_code) ordered but not reported
    not_done: tuple[NotDone, ...] = ()  # tests the analyzer said it cannot do, with its reason

    def not_done_reasons(self, sample_id: str) -> dict[str, str]:
        """test_code → the analyzer's reason, for the tests of this sample it could not do."""
        return {n.test_code: n.reason for n in self.not_done if n.sample_id == sample_id}


class Analyzer(Device):
    kind = "analyzer"

    @abstractmethod
    def supported_tests(self) -> frozenset[str]: ...

    @abstractmethod
    def start_run(self, orders: Sequence[AnalyzerOrder]) -> Handle[AnalyzerRun, str]:
        """Send the orders for the loaded samples and collect their results. The handle succeeds
        when every ordered test is reported or reported not done (`not_done`, with the analyzer's
        reason: a test it cannot do is known at once and does not wait for the timeout), or at the
        run's bounded timeout with what never came listed in `missing`; it fails with a reason on a
        link or instrument fault, or when the analyzer said nothing at all about the run. Feedback
        is a progress text ("3/8 results", "3/8 results, 2 not done")."""
