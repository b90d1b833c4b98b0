"""ASTM E1394 (CLSI LIS2-A2) records: encode and decode, with the delimiters from the header.

A record is one line (CR-terminated on the wire, the CR is not part of `Record`). Its fields are
split by the field delimiter, a field into repeats, a repeat into components. The header's second
field declares the delimiters (field, repeat, component, escape: usually `|\\^&`), so a message is
decoded with the delimiters its own header names. Delimiter characters inside a value are escaped
as `&F&`, `&R&`, `&S&`, `&E&` (with the declared escape character).

Fields are numbered as in the standard: field 1 is the record type, field 2 the sequence number.
`Record.field(n)` returns field n's text (first repeat, first component); `Record.components(n)`
the components of its first repeat; `Record.repeats(n)` every repeat.

Typed views of the records the host uses (O out, R/O/C/P in) are built on the generic record; M
(manufacturer) and S (scientific) records pass through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from hal.drivers.astm import RecordError

RECORD_TYPES = frozenset("HPORCQLMS")
#: manufacturer and scientific records: decoded for reading, written back exactly as received
PASS_THROUGH = frozenset("MS")
#: Field -> repeats -> components: the text of one field, already unescaped.
Field = tuple[tuple[str, ...], ...]
EMPTY_FIELD: Field = (("",),)


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    repeat: str = "\\"
    component: str = "^"
    escape: str = "&"

    def __post_init__(self) -> None:
        chars = (self.field, self.repeat, self.component, self.escape)
        if any(len(c) != 1 for c in chars) or len(set(chars)) != 4:
            raise RecordError(f"delimiters must be four distinct characters, got {''.join(chars)!r}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isalnum() for c in chars):
            raise RecordError(f"delimiters must be printable punctuation, got {''.join(chars)!r}")

    @staticmethod
    def from_header(line: str) -> Delimiters:
        """Read the delimiters from a header line: `H|\\^&...` declares field `|`, repeat `\\`,
        component `^`, escape `&`."""
        if len(line) < 5 or line[0] != "H":
            raise RecordError(f"not a header record: {line[:20]!r}")
        return Delimiters(field=line[1], repeat=line[2], component=line[3], escape=line[4])

    @property
    def declaration(self) -> str:
        """The four delimiters as the header's field 2 holds them in a `Record` (field first);
        on the wire the field delimiter is written once, before the other three."""
        return self.field + self.repeat + self.component + self.escape


STANDARD = Delimiters()


def _escape(text: str, d: Delimiters) -> str:
    e = d.escape
    out = []
    for ch in text:
        if ch == e:
            out.append(f"{e}E{e}")
        elif ch == d.field:
            out.append(f"{e}F{e}")
        elif ch == d.repeat:
            out.append(f"{e}R{e}")
        elif ch == d.component:
            out.append(f"{e}S{e}")
        else:
            out.append(ch)
    return "".join(out)


def _unescape(text: str, d: Delimiters) -> str:
    e = d.escape
    if e not in text:
        return text
    codes = {"F": d.field, "R": d.repeat, "S": d.component, "E": e}
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == e:
            end = text.find(e, i + 1)
            if end == -1:
                out.append(text[i:])  # a lone escape char: keep it as sent rather than guess
                break
            code = text[i + 1 : end]
            # Known codes are translated; others (&H&, &Xhh&, vendor codes) are kept verbatim.
            out.append(codes.get(code, text[i : end + 1]))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _normalise(fields: Sequence[Field]) -> tuple[Field, ...]:
    trimmed = list(fields)
    while len(trimmed) > 1 and trimmed[-1] == EMPTY_FIELD:
        trimmed.pop()  # trailing empty fields carry nothing and are commonly omitted on the wire
    return tuple(tuple(tuple(rep) for rep in f) or EMPTY_FIELD for f in trimmed)


@dataclass(frozen=True, slots=True)
class Record:
    """One record: `fields[0]` is field 1 (the type letter). `raw` keeps the line of a decoded
    M or S record so that it is written back byte for byte (pass-through)."""

    fields: tuple[Field, ...]
    raw: str | None = dataclass_field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _normalise(self.fields))
        kind = self.fields[0][0][0] if self.fields else ""
        if len(kind) != 1 or kind not in RECORD_TYPES:
            raise RecordError(f"unknown record type {kind[:3]!r}")

    @staticmethod
    def of(kind: str, *values: str | Sequence[str] | Field) -> Record:
        """Build from field 2 on: a str is a simple field, a sequence of str its components,
        a tuple of tuples its repeats."""
        fields: list[Field] = [((kind,),)]
        for value in values:
            if isinstance(value, str):
                fields.append(((value,),))
            elif value and isinstance(value[0], tuple):
                fields.append(tuple(tuple(rep) for rep in value))
            else:
                fields.append((tuple(str(v) for v in value),))
        return Record(tuple(fields))

    @property
    def kind(self) -> str:
        return self.fields[0][0][0]

    def repeats(self, n: int) -> Field:
        return self.fields[n - 1] if 1 <= n <= len(self.fields) else EMPTY_FIELD

    def components(self, n: int) -> tuple[str, ...]:
        return self.repeats(n)[0]

    def field(self, n: int) -> str:
        return self.components(n)[0]


def encode_record(record: Record, d: Delimiters = STANDARD) -> str:
    """The record's line, without the terminating CR. A header is always written with the
    delimiters it declares; a received M or S record as it came."""
    if record.kind == "H":
        d = header_delimiters(record)
    elif record.raw is not None:
        return record.raw
    parts = []
    for index, f in enumerate(record.fields):
        if record.kind == "H" and index == 1:
            parts.append(d.declaration[1:])  # field 2 of the header is the declaration itself
            continue
        parts.append(d.repeat.join(d.component.join(_escape(c, d) for c in rep) for rep in f))
    return d.field.join(parts)


def decode_record(line: str, d: Delimiters = STANDARD) -> Record:
    """One record line (a trailing CR is tolerated)."""
    line = line.rstrip("\r")
    if not line:
        raise RecordError("empty record")
    if line[0] == "H":
        d = Delimiters.from_header(line)
        rest = line[5:]
        if rest and not rest.startswith(d.field):
            raise RecordError("header declaration must be followed by a field delimiter")
        raw_fields = ["H", "", *rest.split(d.field)[1:]]
    else:
        raw_fields = line.split(d.field)
    fields: list[Field] = []
    for index, raw in enumerate(raw_fields):
        if line[0] == "H" and index == 1:
            fields.append(((d.declaration,),))
            continue
        fields.append(tuple(tuple(_unescape(c, d) for c in rep.split(d.component)) for rep in raw.split(d.repeat)))
    return Record(tuple(fields), raw=line if line[0] in PASS_THROUGH else None)


def encode_message(records: Sequence[Record]) -> list[str]:
    """Lines of a message: it must start with H (whose declaration sets the delimiters) and end
    with L."""
    if not records or records[0].kind != "H" or records[-1].kind != "L":
        raise RecordError("a message starts with an H record and ends with an L record")
    d = header_delimiters(records[0])
    return [encode_record(r, d) for r in records]


def decode_message(lines: Iterable[str]) -> list[Record]:
    """Decode lines, each message with its own header's delimiters. Lines before the first
    header are rejected."""
    out: list[Record] = []
    d: Delimiters | None = None
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            continue
        if line[0] == "H":
            d = Delimiters.from_header(line)
        elif d is None:
            raise RecordError(f"record before any header: {line[:20]!r}")
        out.append(decode_record(line, d))
    return out


def header_delimiters(record: Record) -> Delimiters:
    """The delimiters an H record declares (standard ones when its field 2 is empty)."""
    declaration = record.field(2)
    return Delimiters.from_header("H" + declaration) if declaration else STANDARD


# -- typed records the host builds and reads -------------------------------------------------------


def header(sender: str, receiver: str = "", timestamp: str = "", d: Delimiters = STANDARD) -> Record:
    # H|\^&|||sender|||||receiver||P|1|timestamp  (field 12 processing id P, 13 version LIS2-A2 = 1)
    return Record.of("H", d.declaration, "", "", sender, "", "", "", "", receiver, "", "P", "1", timestamp)


def patient(seq: int, patient_ref: str) -> Record:
    # P|seq|practice-assigned patient id: the pseudonymous reference only, never a name
    return Record.of("P", str(seq), patient_ref)


def order(seq: int, specimen_id: str, test_codes: Sequence[str], priority: str = "R", *, is_qc: bool = False,
          action: str = "N", requested: str = "") -> Record:
    # O|seq|specimen id||^^^T1\^^^T2|priority|requested time|||||action code (N new, Q control):
    # fields 3, 5, 6, 7, 12. Field 7 (requested/ordered date and time) is echoed by the instrument
    # in its result message: the host tells two orders of one specimen apart by it.
    tests: Field = tuple(("", "", "", code) for code in test_codes) or EMPTY_FIELD
    return Record.of("O", str(seq), specimen_id, "", tests, priority, requested, "", "", "", "",
                     "Q" if is_qc else action)


#: O record field 26, report type: "X" = the order cannot be done (LIS2-A2 §9.4.26)
ORDER_REPORT_TYPE_FIELD = 26
#: R record field 9 / O record field 26 value for "cannot be done"
CANNOT_BE_DONE = "X"


def order_cannot_be_done(record: Record) -> bool:
    """True when an O record's report type (field 26, any repeat) says the order cannot be done."""
    if record.kind != "O":
        raise RecordError(f"expected an O record, got {record.kind}")
    return any(rep and rep[0] == CANNOT_BE_DONE for rep in record.repeats(ORDER_REPORT_TYPE_FIELD))


def comment_text(record: Record) -> str:
    """A C record's text (field 4, components joined by a space)."""
    if record.kind != "C":
        raise RecordError(f"expected a C record, got {record.kind}")
    return " ".join(c for c in record.components(4) if c).strip()


def terminator(code: str = "N") -> Record:
    return Record.of("L", "1", code)


def query(seq: int, specimen_id: str) -> Record:
    # Q|seq|^specimen id||ALL   (request information for one specimen)
    return Record.of("Q", str(seq), ("", specimen_id), "", "ALL")


def comment(seq: int, text: str, source: str = "I") -> Record:
    return Record.of("C", str(seq), source, text, "G")


@dataclass(frozen=True, slots=True)
class ResultFields:
    """Field view of an R record (fields as numbered in LIS2-A2 §10)."""

    test_code: str  # field 3, universal test id, fourth component (^^^code)
    value: str  # 4
    units: str  # 5
    reference_range: str  # 6
    abnormal_flags: str  # 7
    status: str  # 9
    completed: str  # 13
    instrument: str  # 14


def result_fields(record: Record) -> ResultFields:
    if record.kind != "R":
        raise RecordError(f"expected an R record, got {record.kind}")
    test = record.components(3)
    code = test[3] if len(test) > 3 and test[3] else test[-1]
    return ResultFields(
        test_code=code, value=record.field(4), units=record.field(5), reference_range=record.field(6),
        abnormal_flags=record.field(7), status=record.field(9), completed=record.field(13),
        instrument=record.field(14),
    )


def result(seq: int, test_code: str, value: str, units: str, reference_range: str, flags: str, status: str,
           completed: str, instrument: str) -> Record:
    return Record.of("R", str(seq), ("", "", "", test_code), value, units, reference_range, flags, "", status,
                     "", "", "", completed, instrument)


def order_specimen(record: Record) -> tuple[str, tuple[str, ...], bool]:
    """(specimen id, test codes, is_qc) of an O record: field 3 specimen id (else field 4, the
    instrument's), field 5 universal test ids, field 12 action code (Q: quality control)."""
    if record.kind != "O":
        raise RecordError(f"expected an O record, got {record.kind}")
    codes = tuple(rep[3] if len(rep) > 3 else rep[-1] for rep in record.repeats(5) if any(rep))
    specimen = record.field(3) or record.field(4)  # ours, else the instrument's id
    return specimen, codes, record.field(12) == "Q"
