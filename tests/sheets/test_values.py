"""sheets.values: what every stored value keeps to, whatever its column type."""

import datetime as dt

import pytest

from sheets.values import check_text, format_number, parse_moment, parse_number


@pytest.mark.parametrize("text, reason", [("a\x00b", "NUL"), ("x\ud800", "unpaired surrogate")])
def test_check_text_refuses_what_postgresql_or_utf8_cannot_hold(text, reason):
    with pytest.raises(ValueError, match=reason):
        check_text(text, "the name")
    assert check_text("Zoë ✓ 東京") == "Zoë ✓ 東京"


@pytest.mark.parametrize("raw, number", [("1,234", 1234.0), ("-2.5", -2.5), ("1e3", 1000.0), (7, 7), (" 12 ", 12.0)])
def test_parse_number_reads_numbers_and_their_text(raw, number):
    assert parse_number(raw) == number


@pytest.mark.parametrize(
    "raw", ["", "abc", "1.2.3", "1,5", "12,34.5", "1,2345", True, float("inf"), float("nan"), 10**400, None]
)
def test_parse_number_refuses_what_is_not_a_finite_number(raw):
    with pytest.raises(ValueError):
        parse_number(raw)


def test_format_number_writes_whole_floats_without_a_fraction():
    assert [format_number(v) for v in (3.0, 2.5, 10, 1e20)] == ["3", "2.5", "10", "1e+20"]


def test_parse_moment_gives_utc_and_takes_a_zone_for_naive_times():
    assert parse_moment("2026-01-02T03:04:05+02:00") == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    paris = dt.timezone(dt.timedelta(hours=1))
    assert parse_moment("2026-01-02T03:04:05", default_tz=paris).hour == 2
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_moment("yesterday")
    with pytest.raises(ValueError, match="out of range"):
        parse_moment("0001-01-01T00:00:00+05:00")
