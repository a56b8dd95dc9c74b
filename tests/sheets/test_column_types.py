"""The column-type registry: one entry per type holds everything the rest of Gridcast asks of it."""

import datetime as dt
import json
from pathlib import Path

import pytest

from sheets import column_types
from sheets.models import Column


def test_every_type_declares_what_the_rest_of_gridcast_asks():
    assert column_types.names() == ["text", "number", "integer", "boolean", "date", "datetime", "choice", "formula"]
    assert column_types.numeric_types() == ("number", "integer")
    assert column_types.time_types() == ("date", "datetime")
    assert [column_types.get(n).duckdb for n in column_types.names()] == [
        "VARCHAR",
        "DOUBLE",
        "BIGINT",
        "BOOLEAN",
        "DATE",
        "TIMESTAMPTZ",
        "VARCHAR",
        "VARCHAR",
    ]


def test_the_model_field_takes_its_choices_from_the_registry():
    assert [value for value, _ in Column._meta.get_field("type").choices] == column_types.names()


def test_the_client_table_lists_every_type_in_order_with_its_editor():
    table = column_types.client_table()
    assert list(table) == column_types.names()
    assert table["number"] == {
        "label": "Number",
        "icon": "1.5",
        "editor": "number",
        "numeric": True,
        "time": False,
        "align": "right",
        "options": [],
        "text": False,
    }
    assert table["choice"]["options"] == ["choices"] and table["boolean"]["editor"] == "checkbox"
    assert [name for name, entry in table.items() if entry["text"]] == ["text", "choice"]


def test_a_type_registered_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        column_types.register(column_types.get("text"))


@pytest.mark.parametrize(
    "type_name, value, expected",
    [
        ("text", 5, ("5", None)),
        ("text", True, (True, None)),
        ("number", 1.5, (1.5, None)),
        ("boolean", True, (True, None)),
        ("date", "2026-01-02", (dt.date(2026, 1, 2), "yyyy-mm-dd")),
        ("datetime", "2026-01-02T03:04:05Z", (dt.datetime(2026, 1, 2, 3, 4, 5), "yyyy-mm-dd hh:mm:ss")),
        ("date", "not a date", ("not a date", None)),
        ("choice", None, ("", None)),
    ],
)
def test_each_type_has_its_xlsx_form(type_name, value, expected):
    assert column_types.get(type_name).xlsx(value) == expected


def test_options_belong_to_the_types_that_have_them():
    assert column_types.validate_options("text", {"choices": ["a"]}) == {}
    assert column_types.validate_options("choice", {"choices": ["a", "b"]}) == {"choices": ["a", "b"]}
    with pytest.raises(ValueError, match="distinct"):
        column_types.validate_options("choice", {"choices": ["a", "a"]})


def test_formula_cells_are_never_written_and_their_options_are_checked():
    with pytest.raises(ValueError, match="computed from its formula"):
        column_types.coerce("formula", 1)
    assert column_types.validate_options("formula", {"formula": " [A] ", "other": 1}) == {
        "formula": "[A]",
        "result_type": None,
    }
    for options in ({}, {"formula": 3}, {"formula": "1", "result_type": "money"}):
        with pytest.raises(ValueError):
            column_types.validate_options("formula", options)


def test_inference_follows_the_rank_and_a_value_kept_as_text_makes_the_column_text():
    guess = column_types.TypeGuess()
    for text in ["1", "2"]:
        guess.add(text)
    assert guess.type == "integer"
    guess.add("2.5")
    assert guess.type == "number"
    guess.add("-1", as_text=True)
    assert guess.type == "text"


def test_the_front_ends_unit_tests_use_the_servers_table():
    """frontend/src/test/columnTypes.json is what the pages render; when a type changes, regenerate it:
    python manage.py column_types > frontend/src/test/columnTypes.json"""
    fixture = Path(__file__).resolve().parents[2] / "frontend" / "src" / "test" / "columnTypes.json"
    assert json.loads(fixture.read_text()) == column_types.client_table()
