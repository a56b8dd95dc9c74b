"""Data validation rules per column (sheets.rules): set with a column PATCH, enforced on cell
edits (the REST batch and the WebSocket's path, cells_update_many) and replace-all."""

import pytest

from sheets import services
from sheets.models import Column, Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2)
    sheet.row_ids = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet


def set_rules(api, user, sheet, key, rules, options=None):
    body = {"options": {**(options or {}), "rules": rules}}
    return api(user).patch(f"/api/v1/sheets/{sheet.pk}/columns/{key}/", body, format="json")


def edit(api, user, sheet, cells):
    return api(user).post(f"/api/v1/sheets/{sheet.pk}/cells/", {"cells": cells}, format="json")


def test_rules_are_set_with_a_column_patch(api, owner, orders):
    assert set_rules(api, owner, orders, "c2", {"min": "0", "max": 100, "required": True}).status_code == 200
    assert Column.objects.get(sheet=orders, key="c2").options == {"rules": {"required": True, "min": 0, "max": 100}}


@pytest.mark.parametrize(
    ("key", "rules"),
    [
        ("c2", {"min": "abc"}),
        ("c2", {"min": 5, "max": 1}),
        ("c1", {"min": 1}),
        ("c2", {"pattern": "a+"}),
        ("c1", {"pattern": "("}),
        ("c1", {"pattern": "a" * 201}),
        ("c1", {"required": "yes"}),
        ("c1", {"sometimes": True}),
        ("c1", ["required"]),
    ],
)
def test_malformed_rules_are_refused(api, owner, orders, key, rules):
    response = set_rules(api, owner, orders, key, rules)
    assert response.status_code == 400, response.content
    assert Column.objects.get(sheet=orders, key=key).options == {}


def test_min_and_max_refuse_the_whole_batch(api, owner, orders):
    set_rules(api, owner, orders, "c2", {"min": 0, "max": 100})
    rows = orders.row_ids
    response = edit(
        api, owner, orders, [{"row": rows[0], "col": "c2", "value": 5}, {"row": rows[1], "col": "c2", "value": 101}]
    )
    assert response.status_code == 400
    assert "Amount: must be at most 100" in response.json()["error"]["message"]
    assert Row.objects.get(pk=rows[0]).data.get("c2") is None  # nothing half applied
    assert edit(api, owner, orders, [{"row": rows[0], "col": "c2", "value": 100}]).status_code == 200


def test_dates_have_bounds_too(api, owner, orders):
    set_rules(api, owner, orders, "c5", {"min": "2026-01-01"})
    assert edit(api, owner, orders, [{"row": orders.row_ids[0], "col": "c5", "value": "2025-12-31"}]).status_code == 400
    assert edit(api, owner, orders, [{"row": orders.row_ids[0], "col": "c5", "value": "2026-01-01"}]).status_code == 200


def test_required_refuses_clearing(api, owner, orders):
    edit(api, owner, orders, [{"row": orders.row_ids[0], "col": "c1", "value": "x"}])
    set_rules(api, owner, orders, "c1", {"required": True})
    response = edit(api, owner, orders, [{"row": orders.row_ids[0], "col": "c1", "value": ""}])
    assert response.status_code == 400
    assert "a value is required" in response.json()["error"]["message"]


def test_pattern_is_a_whole_value_match(api, owner, orders):
    set_rules(api, owner, orders, "c1", {"pattern": r"[A-Z]{3}-\d+"})
    row = orders.row_ids[0]
    assert edit(api, owner, orders, [{"row": row, "col": "c1", "value": "ORD-12"}]).status_code == 200
    assert edit(api, owner, orders, [{"row": row, "col": "c1", "value": "ORD-12x"}]).status_code == 400
    assert edit(api, owner, orders, [{"row": row, "col": "c1", "value": "ORD-" + "1" * 1001}]).status_code == 400


def test_the_websocket_path_gets_the_same_error(owner, orders):
    services.column_retype(sheet=orders, actor=owner, key="c3", type="integer", options={"rules": {"max": 3}})
    edits = [services.Edit(owner, [{"row": orders.row_ids[0], "col": "c3", "value": 4}])]
    [result] = services.cells_update_many(sheet=orders, edits=edits)
    assert "must be at most 3" in str(result)


def test_replace_all_skips_values_that_break_a_rule(api, owner, orders):
    rows = orders.row_ids
    edit(
        api,
        owner,
        orders,
        [{"row": rows[0], "col": "c1", "value": "AB-1"}, {"row": rows[1], "col": "c1", "value": "AB-2"}],
    )
    set_rules(api, owner, orders, "c1", {"pattern": r"[A-Z]+-1"})
    answer = (
        api(owner).post(f"/api/v1/sheets/{orders.pk}/replace/", {"q": "AB", "replacement": "XY"}, format="json").json()
    )
    assert answer["replaced"] == 1 and answer["skipped_count"] == 1
    assert [Row.objects.get(pk=r).data["c1"] for r in rows] == ["XY-1", "AB-2"]


def test_unique_refuses_a_value_another_row_has(api, owner, workspace):
    sheet = make_sheet(workspace, owner, rows=3)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    assert set_rules(api, owner, sheet, "c1", {"unique": True}).status_code == 200
    assert edit(api, owner, sheet, [{"row": rows[0], "col": "c1", "value": "A"}]).status_code == 200
    response = edit(api, owner, sheet, [{"row": rows[1], "col": "c1", "value": "A"}])
    assert response.status_code == 400
    assert "already in another row" in response.json()["error"]["message"]
    # Within one batch, and a swap that leaves the values unique is fine.
    both = [{"row": rows[1], "col": "c1", "value": "B"}, {"row": rows[2], "col": "c1", "value": "B"}]
    assert edit(api, owner, sheet, both).status_code == 400
    swap = [{"row": rows[0], "col": "c1", "value": "B"}, {"row": rows[1], "col": "c1", "value": "A"}]
    assert edit(api, owner, sheet, swap).status_code == 200
    assert edit(api, owner, sheet, [{"row": rows[0], "col": "c1", "value": "B"}]).status_code == 200  # its own value
    assert set_rules(api, owner, sheet, "c1", {"unique": "yes"}).status_code == 400
