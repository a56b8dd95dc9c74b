"""Paste (sheets.services.paste): each pasted text converted by its column's type and rules,
the cells that convert written as one operation, the others reported and left as they were."""

import uuid

import pytest

from sheets import services, undo
from sheets.models import Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=4)
    sheet.row_ids = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet


def paste(api, user, sheet, cells, **extra):
    return api(user).post(f"/api/v1/sheets/{sheet.pk}/cells/paste/", {"cells": cells, **extra}, format="json")


def data(sheet):
    return [Row.objects.get(pk=pk).data for pk in sheet.row_ids]


def test_values_convert_as_typing_them_would(api, owner, orders):
    r = orders.row_ids
    cells = [
        {"row": r[0], "col": "c2", "value": "1,234.50"},
        {"row": r[0], "col": "c3", "value": " 42 "},
        {"row": r[0], "col": "c4", "value": "TRUE"},
        {"row": r[1], "col": "c4", "value": "yes"},
        {"row": r[0], "col": "c5", "value": "2024-12-31"},
        {"row": r[0], "col": "c7", "value": "shipped"},
    ]
    answer = paste(api, owner, orders, cells)
    assert answer.status_code == 200, answer.content
    assert answer.json()["skipped"] == [] and answer.json()["skipped_count"] == 0
    assert data(orders)[0] == {"c2": 1234.5, "c3": 42, "c4": True, "c5": "2024-12-31", "c7": "shipped"}
    assert data(orders)[1] == {"c4": True}


def test_cells_that_do_not_convert_are_reported_and_the_rest_applied(api, owner, orders):
    r = orders.row_ids
    cells = [
        {"row": r[0], "col": "c2", "value": "12"},
        {"row": r[1], "col": "c2", "value": "abc"},
        {"row": r[2], "col": "c2", "value": "45%"},
        {"row": r[0], "col": "c5", "value": "12/31/2024"},
        {"row": r[0], "col": "c7", "value": "lost"},
        {"row": r[1], "col": "c1", "value": "kept"},
    ]
    answer = paste(api, owner, orders, cells).json()
    assert answer["skipped_count"] == 4
    assert [(s["row"], s["col"], s["value"]) for s in answer["skipped"]] == [
        (r[1], "c2", "abc"),
        (r[2], "c2", "45%"),
        (r[0], "c5", "12/31/2024"),
        (r[0], "c7", "lost"),
    ]
    assert answer["skipped"][0]["message"] == "'abc' is not a number"
    assert "is not a date" in answer["skipped"][2]["message"]
    assert "is not one of the choices" in answer["skipped"][3]["message"]
    assert data(orders)[:3] == [{"c2": 12}, {"c1": "kept"}, {}]  # no text stored in a number column
    assert [c["col"] for c in answer["operation"]["changes"]["cells"]] == ["c2", "c1"]


def test_the_good_cells_are_one_operation_that_one_undo_reverts(api, owner, orders):
    r = orders.row_ids
    services.cells_update(sheet=orders, actor=owner, cells=[{"row": r[0], "col": "c1", "value": "before"}])
    cells = [{"row": pk, "col": "c1", "value": f"v{i}"} for i, pk in enumerate(r)]
    cells.append({"row": r[0], "col": "c2", "value": "nope"})
    pasted = services.cells_paste(sheet=orders, actor=owner, cells=cells)
    assert pasted.operation.kind == "cells.update" and len(pasted.skipped) == 1
    assert [d.get("c1") for d in data(orders)] == ["v0", "v1", "v2", "v3"]
    undo.operation_undo(sheet=orders, actor=owner)
    assert [d.get("c1") for d in data(orders)] == ["before", None, None, None]


def test_rules_are_checked_per_cell(api, owner, orders):
    r = orders.row_ids
    api(owner).patch(f"/api/v1/sheets/{orders.pk}/columns/c2/", {"options": {"rules": {"min": 0}}}, format="json")
    api(owner).patch(f"/api/v1/sheets/{orders.pk}/columns/c1/", {"options": {"rules": {"unique": True}}}, format="json")
    services.cells_update(sheet=orders, actor=owner, cells=[{"row": r[3], "col": "c1", "value": "D"}])
    cells = [
        {"row": r[0], "col": "c2", "value": "-5"},
        {"row": r[1], "col": "c2", "value": "5"},
        {"row": r[0], "col": "c1", "value": "A"},
        {"row": r[1], "col": "c1", "value": "A"},  # the same as the row above in this paste
        {"row": r[2], "col": "c1", "value": "D"},  # the value row 4 keeps
    ]
    answer = paste(api, owner, orders, cells).json()
    assert [(s["row"], s["col"]) for s in answer["skipped"]] == [(r[0], "c2"), (r[1], "c1"), (r[2], "c1")]
    assert answer["skipped"][0]["message"] == "must be at least 0"
    assert "already in another row" in answer["skipped"][1]["message"]
    assert [d.get("c1") for d in data(orders)] == ["A", None, None, "D"]
    assert data(orders)[1]["c2"] == 5


def test_a_paste_of_which_nothing_converts_is_refused_with_every_reason(api, owner, orders):
    r = orders.row_ids
    cells = [{"row": r[0], "col": "c2", "value": "x"}, {"row": r[1], "col": "c8", "value": "1"}]
    response = paste(api, owner, orders, cells)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "nothing pasted: 'x' is not a number"
    assert error["skipped_count"] == 2 and error["skipped"][1]["message"] == "no column 'c8' in this sheet"
    assert data(orders) == [{}, {}, {}, {}]


def test_what_is_reported_is_bounded(api, owner, orders, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_CELL_CHARS": 100}
    r = orders.row_ids
    cells = [{"row": r[0], "col": "c1", "value": "y" * 500}, {"row": r[1], "col": "c1", "value": "ok"}]
    cells += [{"row": orders.row_ids[2], "col": "c2", "value": f"n{i}"} for i in range(300)]
    answer = paste(api, owner, orders, cells).json()
    assert answer["skipped_count"] == 301 and len(answer["skipped"]) == 200
    assert answer["skipped"][0]["value"] == "y" * 200 and "longer than 100" in answer["skipped"][0]["message"]
    assert answer["skipped"][1]["value"] == "n0"


def test_viewers_may_not_paste_and_input_is_checked(api, viewer, owner, orders):
    cells = [{"row": orders.row_ids[0], "col": "c1", "value": "x"}]
    assert paste(api, viewer, orders, cells).status_code == 403
    assert paste(api, owner, orders, [{"row": "1", "col": "c1", "value": "x"}]).status_code == 400
    assert paste(api, owner, orders, []).status_code == 400
    assert data(orders)[0] == {}


def test_a_resent_paste_applies_once(api, owner, orders):
    op_id = str(uuid.uuid4())
    cells = [{"row": orders.row_ids[0], "col": "c3", "value": "7"}]
    first = paste(api, owner, orders, cells, op_id=op_id).json()
    again = paste(api, owner, orders, cells, op_id=op_id).json()
    assert first["operation"]["version"] == again["operation"]["version"]
