"""What an instrument's result message says about each order it carries (sans-I/O, tested directly).

A result message is `H`, then per order `O` [`C`...] (`R` [`C`...])..., `L`. Each O record opens
an `OrderReport`: the specimen, the tests it names, the requested date/time the host put in field 7
(echoed back, so a re-run of one specimen is told apart from the run before it), whether the
instrument marked the order "X" (field 26, cannot be done), and its results. A C record
belongs to the record before it (the order or one result): that is where an instrument says why
it could not do something ("sample volume too low", "clot detected").

A test is *not done* when its R record has status X, or when the order is marked X and the
message carries no R record for it. Its reason, most specific first: the comment on its R record,
the value that R record carried ("NOT DONE", "HEMOLYZED"), the comment on the order, the flags of
its R record ("instrument flag A"), else "" (the instrument gave none). The driver hands it on as
the `NotDone.reason` of `hal.analyzer`; it is the only place the instrument's words can be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hal.drivers.astm import RecordError, records


@dataclass(frozen=True, slots=True)
class TestReport:
    test_code: str
    fields: records.ResultFields | None  # None: no R record (the whole order was marked X)
    not_done: bool
    reason: str  # why it was not done, as the instrument said it ("" when it said nothing)


@dataclass(slots=True)
class OrderReport:
    specimen: str
    test_codes: tuple[str, ...]
    is_qc: bool
    requested: str  # O field 7 as echoed ("" when the instrument does not echo it)
    cannot_be_done: bool
    comments: list[str] = field(default_factory=list)
    results: list[tuple[records.ResultFields, list[str]]] = field(default_factory=list)

    def tests(self) -> list[TestReport]:
        out: list[TestReport] = []
        reported: set[str] = set()
        for f, comments in self.results:
            reported.add(f.test_code)
            not_done = f.status == records.CANNOT_BE_DONE
            reason = (_reason(comments, f.value) or _reason(self.comments, "") or _flag_reason(f.abnormal_flags)
                      if not_done else "")
            out.append(TestReport(f.test_code, f, not_done, reason))
        if self.cannot_be_done:
            reason = _reason(self.comments, "")
            out.extend(TestReport(code, None, True, reason) for code in self.test_codes if code not in reported)
        return out


def _reason(comments: Sequence[str], value: str) -> str:
    text = "; ".join(c for c in comments if c)
    return (text or value.strip())[:200]


def _flag_reason(flags: str) -> str:
    # some instruments say why only by a flag on the X record (A: abnormal sample, e.g. a clot)
    return f"instrument flag {flags.strip()}" if flags.strip() else ""


def order_reports(decoded: Sequence[records.Record]) -> list[OrderReport]:
    """The orders of one decoded message, in order. Raises `RecordError` for an R record before
    any O record (it cannot be attributed to a specimen)."""
    out: list[OrderReport] = []
    current: OrderReport | None = None
    for record in decoded:
        if record.kind == "O":
            specimen, codes, is_qc = records.order_specimen(record)
            current = OrderReport(specimen, codes, is_qc, record.field(7),
                                  records.order_cannot_be_done(record))
            out.append(current)
        elif record.kind == "R":
            if current is None or not current.specimen:
                raise RecordError("result before any order record")
            current.results.append((records.result_fields(record), []))
        elif record.kind == "C" and current is not None:
            text = records.comment_text(record)
            (current.results[-1][1] if current.results else current.comments).append(text)
    return out
