"""Excel-like semantics of formula values and functions, errors as values."""

import datetime as dt

import pytest
from django.utils import timezone

from sheets.formulas import Formula, compile_names

NAMES = {"A": "c1", "B": "c2", "D": "c3", "T": "c4"}


def value(text, **row):
    source, _ = compile_names(text, NAMES)
    return Formula.load(source, NAMES.values()).compute({NAMES[k]: v for k, v in row.items()})


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("[A] + 1", {}, 1),  # blank is 0
        ('[A] & "x"', {}, "x"),  # blank is ""
        ("[A] * [B]", {"A": 2.5, "B": 4}, 10),
        ("[A] + 1", {"A": "3"}, 4),  # text that reads as a number
        ("[A] + 1", {"A": "three"}, "#VALUE!"),
        ("[A] + 1", {"A": True}, 2),
        ("[A] / [B]", {"A": 1}, "#DIV/0!"),
        ("([A] / [B]) + 1", {"A": 1}, "#DIV/0!"),  # errors propagate
        ('IFERROR([A] / [B], "none")', {"A": 1}, "none"),
        ('IFERROR([A] / [B], "none")', {"A": 1, "B": 2}, 0.5),
        ("[A] * 2", {"A": "#DIV/0!"}, "#DIV/0!"),  # an error stored by another formula
        ("ISBLANK([A])", {}, True),
        ("ISBLANK([A])", {"A": 0}, False),
        ('IF([A] > 10, "big", "small")', {"A": 11}, "big"),
        ('IF([A] > 10, "big")', {"A": 1}, False),
        ("IF([A] > 1, 1, 1 / 0)", {"A": 2}, 1),  # the other branch is not computed
        ("AND([A], [B] > 1)", {"A": True, "B": 2}, True),
        ("OR([A], [B])", {}, False),
        ("NOT([A])", {"A": False}, True),
        ('AND("maybe")', {}, "#VALUE!"),
        ("ROUND([A], 1)", {"A": 2.25}, 2.3),
        ("ROUND([A])", {"A": -2.5}, -3),
        ("ABS([A])", {"A": -4}, 4),
        ("MIN([A], [B], 3)", {"A": 5, "B": -1}, -1),
        ("MAX([A], [B], 3)", {"A": 5, "B": -1}, 5),
        ("LEN([T])", {"T": "héllo"}, 5),
        ("LEFT([T], 2) & RIGHT([T], 2)", {"T": "abcdef"}, "abef"),
        ("MID([T], 2, 3)", {"T": "abcdef"}, "bcd"),
        ("MID([T], 0, 3)", {"T": "abcdef"}, "#VALUE!"),
        ("UPPER([T]) & LOWER([T])", {"T": "Ab"}, "ABab"),
        ("TRIM([T])", {"T": "  a   b  "}, "a b"),
        ("CONCAT([T], 1, TRUE, [A])", {"T": "x"}, "x1TRUE"),
        ("[A] = [B]", {"A": "abc", "B": "ABC"}, True),  # text compares ignoring case
        ('[A] < "a"', {"A": 99}, True),  # numbers sort before text
        ('[A] = ""', {}, True),
        ("[A] = 0", {}, True),
        ('YEAR([D]) & "-" & MONTH([D]) & "-" & DAY([D])', {"D": "2024-02-29"}, "2024-2-29"),
        ("YEAR([D])", {"D": "2024-12-31T23:30:00Z"}, 2024),
        ("YEAR([D])", {"D": "soon"}, "#VALUE!"),
        ('DATEDIFF([D], "2024-03-01")', {"D": "2024-02-01"}, 29),
        ('DATEDIFF([D], "2025-02-28", "months")', {"D": "2024-02-29"}, 11),
        ('DATEDIFF([D], "2026-03-01", "years")', {"D": "2024-02-29"}, 2),
        ('DATEDIFF([D], "2024-01-02T06:00:00Z", "hours")', {"D": "2024-01-01T00:00:00Z"}, 30),
        ("DATEADD([D], 1)", {"D": "2024-02-28"}, "2024-02-29"),
        ('DATEADD([D], 1, "month")', {"D": "2024-01-31"}, "2024-02-29"),
        ('DATEADD([D], -1, "year")', {"D": "2024-02-29"}, "2023-02-28"),
        ('DATEADD([D], 2, "hours")', {"D": "2024-01-01T23:00:00Z"}, "2024-01-02T01:00:00Z"),
        ('DATEADD([D], 1, "fortnight")', {"D": "2024-01-01"}, "#VALUE!"),
        ("DATEADD([D], 10000000)", {"D": "9999-01-01"}, "#NUM!"),
        ("10 ^ 400", {}, "#NUM!"),
        ("[A] * [A]", {"A": 1e200}, "#NUM!"),
        ("(-8) ^ 0.5", {}, "#NUM!"),
        ("1 / 3", {}, 1 / 3),
    ],
)
def test_values(text, row, expected):
    assert value(text, **row) == expected


def test_today_and_now_are_in_the_stored_forms():
    today = value("TODAY()")
    assert today == timezone.now().date().isoformat()
    now = value("NOW()")
    assert now.endswith("Z")
    assert abs(dt.datetime.fromisoformat(now) - timezone.now()) < dt.timedelta(seconds=5)
    assert value("DATEDIFF(TODAY(), DATEADD(TODAY(), 7))") == 7


def test_huge_text_is_a_value_error_not_a_huge_cell():
    text = "x" * 60_000
    assert value("[T] & [T]", T=text) == "#VALUE!"
