"""Laboratory analyzer, as the lab robot's host system sees it.

Shaped after ASTM E1394 (CLSI LIS2-A2) so that the ASTM E1381/E1394 driver in `hal/drivers/`
plugs in unchanged: the host sends orders (O records) for loaded samples; the instrument runs them
and sends results (R records) with flags; QC samples come back flagged as QC.
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
class AnalyzerRun:
    """What came back for one batch of orders."""

    results: tuple[AnalyzerResult, ...]
    missing: tuple[tuple[str, str], ...]  # (sample_id, test_code) ordered but not reported


class Analyzer(Device):
    kind = "analyzer"

    @abstractmethod
    def supported_tests(self) -> frozenset[str]: ...

    @abstractmethod
    def start_run(self, orders: Sequence[AnalyzerOrder]) -> Handle[AnalyzerRun, str]:
        """Send the orders for the loaded samples and collect their results. The handle succeeds
        when every ordered test is reported (or `missing` lists what never came within the
        run's bounded timeout), fails with a reason on a link or instrument fault; feedback is a
        progress text ("3/8 results")."""
