"""Formula columns over REST: create, edit an input, refused writes and bad formulas (never a 500)."""

import pytest

from sheets import services
from sheets.models import Column, Row, Sheet
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db

COLUMNS = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]


@pytest.fixture
def shop(workspace, owner):
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    op = services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 2, "c2": 3}])
    sheet.row_id = op.payload["rows"][0]["id"]
    return sheet


def url(sheet, rest=""):
    return f"/api/v1/sheets/{sheet.pk}/{rest}"


def add_total(client, sheet, formula="[Price] * [Qty]"):
    return client.post(
        url(sheet, "columns/"), {"name": "Total", "type": "formula", "options": {"formula": formula}}, format="json"
    )


def test_a_formula_column_over_rest_follows_its_inputs(api, editor, shop):
    client = api(editor)
    added = add_total(client, shop)
    assert added.status_code == 201, added.content
    column = added.json()["changes"]["column"]
    assert column["type"] == "formula" and column["options"]["formula"] == "[Price] * [Qty]"
    assert added.json()["changes"]["computed"] == {column["key"]: {str(shop.row_id): 6}}
    edited = client.post(url(shop, "cells/"), {"cells": [{"row": shop.row_id, "col": "c2", "value": 5}]}, format="json")
    assert edited.status_code == 200, edited.content
    assert {"row": shop.row_id, "col": column["key"], "value": 10} in edited.json()["changes"]["cells"]
    listed = client.get(url(shop, "rows/")).json()
    assert listed["rows"][0]["values"][column["key"]] == 10

    changed = client.patch(
        url(shop, f"columns/{column['key']}/"), {"type": "formula", "options": {"formula": "[Qty] - 1"}}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert Row.objects.get(pk=shop.row_id).data[column["key"]] == 4


def test_writing_a_formula_cell_is_400(api, editor, shop):
    client = api(editor)
    key = add_total(client, shop).json()["changes"]["column"]["key"]
    response = client.post(
        url(shop, "cells/"), {"cells": [{"row": shop.row_id, "col": key, "value": 1}]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_value" and "computed from its formula" in error["message"]
    assert Row.objects.get(pk=shop.row_id).data[key] == 6


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"formula": "[Price] * [Quantity]"}, "no column named 'Quantity' in this sheet (at character 11)"),
        ({"formula": "[Total] + 1"}, "circular reference: Total -> Total"),
        ({"formula": "(" * 3000 + "1" + ")" * 3000}, "at most 4000 characters"),
        ({"formula": "(" * 1500 + "1" + ")" * 1500}, "nested too deeply"),
        ({"formula": ["x"]}, "needs options"),
        ({"formula": "ROUND(1, 2, 3)"}, "ROUND takes 1 to 2 argument(s), not 3"),
        ("[Price]", "options must be an object"),
    ],
)
def test_bad_formulas_are_400_with_a_clear_message_and_nothing_added(api, editor, shop, options, message):
    before = Sheet.objects.get(pk=shop.pk).version
    response = api(editor).post(
        url(shop, "columns/"), {"name": "Total", "type": "formula", "options": options}, format="json"
    )
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert not Column.objects.filter(sheet=shop, name="Total").exists()
    assert Sheet.objects.get(pk=shop.pk).version == before


def test_a_viewer_cannot_add_a_formula_column(api, viewer, shop):
    assert add_total(api(viewer), shop).status_code == 403
    assert not Column.objects.filter(sheet=shop, name="Total").exists()


def test_on_a_large_sheet_the_column_answers_at_once_and_reads_show_the_recompute(api, editor, shop, settings):
    """More rows than FORMULA_INLINE_ROWS: the recompute is a background job (never run here: no
    jobs worker, and the test's transaction does not commit). Meanwhile the REST reads return
    what is stored, and the sheet says what is being recomputed."""
    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_INLINE_ROWS": 0}
    client = api(editor)
    added = add_total(client, shop)
    assert added.status_code == 201, added.content
    key = added.json()["changes"]["column"]["key"]
    progress = {"columns": [key], "done": 0, "total": 1, "after": 0}
    assert added.json()["changes"]["recompute"] == progress and "computed" not in added.json()["changes"]
    assert client.get(url(shop)).json()["recompute"] == progress
    rows = client.get(url(shop, "rows/")).json()["rows"]
    assert rows[0]["values"].get(key) is None  # not computed yet: what is stored
    assert api(editor).get(url(make_sheet(shop.workspace, editor, name="Other"))).json()["recompute"] is None
