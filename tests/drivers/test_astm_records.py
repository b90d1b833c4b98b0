"""ASTM E1394 records: delimiters from the header, escapes, repeats, components, both directions,
and property tests (round trips; arbitrary input raises only the driver's own errors)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.drivers.astm import AstmError, RecordError, records
from hal.drivers.astm.link import message_frames, parse_frame
from hal.drivers.astm.records import Delimiters, Record, decode_message, decode_record, encode_message, encode_record

INSTRUMENT_MESSAGE = [
    "H|\\^&|||cobas^1.0|||||host||P|1|20260105071500",
    "P|1|pt-000123",
    "O|1|S-0001||^^^GLU\\^^^K|R",  # trailing empty fields are not written back
    "R|1|^^^GLU|5.4|mmol/L|3.9 to 6.1|N||F||||20260105071500|sim-chem-1",
    "R|2|^^^K|6.9|mmol/L|3.5 to 5.1|HH||F||||20260105071500|sim-chem-1",
    "C|1|I|hemolysis index 2|G",
    "M|1|VENDOR^X|opaque&data",
    "S|1|scientific",
    "L|1|N",
]


def test_an_instrument_message_decodes_into_typed_results() -> None:
    decoded = decode_message(INSTRUMENT_MESSAGE)
    assert [r.kind for r in decoded] == list("HPORRCMSL")
    specimen, tests, is_qc = records.order_specimen(decoded[2])
    assert (specimen, tests, is_qc) == ("S-0001", ("GLU", "K"), False)
    k = records.result_fields(decoded[4])
    assert (k.test_code, k.value, k.units, k.reference_range, k.abnormal_flags, k.status) == (
        "K", "6.9", "mmol/L", "3.5 to 5.1", "HH", "F")
    assert decoded[0].components(5) == ("cobas", "1.0")
    # M and S pass through untouched
    assert encode_message(decoded) == INSTRUMENT_MESSAGE


def test_delimiters_are_taken_from_the_header() -> None:
    lines = ["H|@^\\|||x", "O|1|S1||^^^GLU@^^^NA|R", "R|1|^^^NA|140|mmol/L|135\\S\\145|N", "L|1"]
    decoded = decode_message(lines)
    assert records.order_specimen(decoded[1])[1] == ("GLU", "NA")
    assert decoded[2].field(6) == "135^145"  # \S\ is the escaped component delimiter
    assert records.header_delimiters(decoded[0]) == Delimiters("|", "@", "^", "\\")


def test_escapes_for_every_delimiter_and_unknown_escape_kept() -> None:
    record = Record.of("C", "1", "I", "a|b\\c^d&e", "G")
    line = encode_record(record)
    assert line == "C|1|I|a&F&b&R&c&S&d&E&e|G"
    assert decode_record(line) == record
    assert decode_record("C|1|I|bold &H& text").field(4) == "bold &H& text"


def test_repeats_and_components_both_directions() -> None:
    order = records.order(3, "S-9", ["GLU", "K", "NA"], "S", is_qc=True)
    line = encode_record(order)
    assert line == "O|3|S-9||^^^GLU\\^^^K\\^^^NA|S||||||Q"
    assert records.order_specimen(decode_record(line)) == ("S-9", ("GLU", "K", "NA"), True)
    assert records.query(1, "S-9").components(3) == ("", "S-9")


@pytest.mark.parametrize("line", ["", "X|1", "H", "H|\\^", "H|\\^^&", "H|\\^&X|", "Z"])
def test_malformed_records_raise_record_error(line: str) -> None:
    with pytest.raises(RecordError):
        decode_message([line, "L|1"]) if line.startswith("H") else decode_record(line)


def test_a_message_must_start_with_a_header() -> None:
    with pytest.raises(RecordError):
        decode_message(["R|1|^^^GLU|5"])
    with pytest.raises(RecordError):
        encode_message([records.terminator()])


# -- properties --------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
components = st.lists(text, min_size=1, max_size=3).map(tuple)
field = st.lists(components, min_size=1, max_size=3).map(tuple)
record_kind = st.sampled_from("PORCQLMS")
delims = st.permutations(list("|\\^&@!~")).map(lambda p: Delimiters(*p[:4]))


@settings(max_examples=80, deadline=None)
@given(kind=record_kind, fields=st.lists(field, max_size=8), d=delims)
def test_record_round_trip(kind: str, fields: list[tuple[tuple[str, ...], ...]], d: Delimiters) -> None:
    record = Record((((kind,),), *fields))
    assert decode_record(encode_record(record, d), d) == record


@settings(max_examples=100, deadline=None)
@given(body=st.lists(st.tuples(record_kind, field), max_size=5), d=delims)
def test_message_round_trip_through_frames(body: list[tuple[str, tuple[tuple[str, ...], ...]]], d: Delimiters) -> None:
    message = [records.header("medbot", d=d), *(Record.of(k, "1", f) for k, f in body), records.terminator()]
    lines = encode_message(message)
    texts = b"".join(p.text for p in (parse_frame(f) for f in message_frames(lines)) if p)
    assert decode_message(texts.decode("latin-1").split("\r")) == message


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=4))
def test_arbitrary_lines_raise_only_record_error(lines: list[str]) -> None:
    with contextlib.suppress(AstmError):
        decode_message(lines)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_parse_as_a_bad_frame(raw: bytes) -> None:
    frame = parse_frame(raw)
    if frame is not None:  # only a well-formed frame with a correct checksum gets through
        assert raw[-4:-2] == f"{sum(raw[1:-4]) % 256:02X}".encode()
