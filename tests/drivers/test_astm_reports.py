"""Reading a result message per order: what was resulted, what the instrument could not do, and why."""

from __future__ import annotations

import pytest

from hal.drivers.astm import RecordError, records
from hal.drivers.astm.reports import order_reports


def _reports(*lines: str) -> list[tuple[str, str, bool, str, str]]:
    decoded = records.decode_message(lines)
    return [(rep.specimen, t.test_code, t.not_done, t.reason, rep.requested)
            for rep in order_reports(decoded) for t in rep.tests()]


def test_an_order_marked_x_makes_each_of_its_tests_not_done_with_the_comment_as_reason() -> None:
    x_order = "O|2|S-1||^^^GLU\\^^^K|R|20260105070000" + "|" * 19 + "X"  # field 26
    assert _reports("H|\\^&", x_order, "C|1|I|sample volume^too low|G", "L|1|N") == [
        ("S-1", "GLU", True, "sample volume too low", "20260105070000"),
        ("S-1", "K", True, "sample volume too low", "20260105070000")]


def test_a_result_with_status_x_is_not_done_and_its_own_comment_or_value_says_why() -> None:
    lines = ("H|\\^&", "O|1|S-1||^^^GLU\\^^^K\\^^^NA|R", "C|1|I|order comment|G",
             "R|1|^^^GLU|5.1|mmol/L|3.9 to 6.1|N||F", "C|1|I|a note on GLU|G",
             "R|2|^^^K||mmol/L||A||X", "C|1|I|hemolysed|G",
             "R|3|^^^NA|NOT DONE|mmol/L||||X", "L|1|N")
    assert [(t[1], t[2], t[3]) for t in _reports(*lines)] == [
        ("GLU", False, ""), ("K", True, "hemolysed"), ("NA", True, "NOT DONE")]


def test_an_x_result_without_comment_or_value_falls_back_to_the_order_comment_then_to_nothing() -> None:
    assert _reports("H|\\^&", "O|1|S-1||^^^K|R", "C|1|I|clot detected|G", "R|1|^^^K||||||X", "L|1")[0][3] == \
        "clot detected"
    assert _reports("H|\\^&", "O|1|S-1||^^^K|R", "R|1|^^^K||||||X", "L|1")[0][2:4] == (True, "")


def test_an_x_result_that_says_why_only_by_a_flag_names_the_flag() -> None:
    assert _reports("H|\\^&", "O|1|S-1||^^^K|R", "R|1|^^^K||mmol/L||A||X", "L|1")[0][2:4] == \
        (True, "instrument flag A")
    assert _reports("H|\\^&", "O|1|S-1||^^^K|R", "C|1|I|clot detected|G", "R|1|^^^K||mmol/L||A||X",
                    "L|1")[0][3] == "clot detected"  # words before a flag


def test_an_x_order_with_some_results_marks_only_the_unreported_tests_not_done() -> None:
    x_order = "O|1|S-1||^^^GLU\\^^^K|R" + "|" * 20 + "X"  # field 26
    rows = _reports("H|\\^&", x_order, "R|1|^^^GLU|5.0|mmol/L||N||F", "L|1")
    assert [(r[1], r[2]) for r in rows] == [("GLU", False), ("K", True)]


def test_other_delimiters_are_read_from_the_header() -> None:
    x_order = "O@1@S-9@@^^^K@R@20260105070102" + "@" * 19 + "X"
    assert _reports("H@|^\\", x_order, "C@1@I@no sample@G", "L@1") == [
        ("S-9", "K", True, "no sample", "20260105070102")]


def test_a_result_before_any_order_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="result before any order"):
        order_reports(records.decode_message(["H|\\^&", "R|1|^^^K|4.0", "L|1"]))
