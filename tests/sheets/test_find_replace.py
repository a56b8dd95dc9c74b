"""Find over the whole sheet and replace-all as one undoable operation (sheets.find,
sheets.services.replace, GET .../find/ and POST .../replace/)."""

import pytest

from sheets import services
from sheets.models import Operation, Row
from sheets.undo import operation_undo

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

NAMES = ["Apple pie", "apple", "Banana", "pineapple", None, "APPLE", "a.b*c", "50%_off", "apple apple"]


@pytest.fixture
def fruit(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=len(NAMES))
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    cells = [{"row": r, "col": "c1", "value": v} for r, v in zip(rows, NAMES, strict=True) if v is not None]
    cells += [{"row": rows[0], "col": "c7", "value": "new"}, {"row": rows[1], "col": "c2", "value": 12.5}]
    services.cells_update(sheet=sheet, actor=owner, cells=cells)
    sheet.refresh_from_db()
    sheet.row_ids = rows
    return sheet


def find(api, user, sheet, **params):
    response = api(user).get(f"/api/v1/sheets/{sheet.pk}/find/", params)
    assert response.status_code == 200, response.content
    return response.json()


def replace(api, user, sheet, **body):
    return api(user).post(f"/api/v1/sheets/{sheet.pk}/replace/", body, format="json")


def names(sheet):
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("data__c1", flat=True))


def test_find_counts_and_lists_matches_in_sheet_order(api, owner, fruit):
    answer = find(api, owner, fruit, q="apple")
    assert answer["total"] == 5  # one per cell, however often the text occurs in it
    rows = fruit.row_ids
    assert [(m["row"], m["col"], m["index"]) for m in answer["matches"]] == [
        (rows[i], "c1", i) for i in (0, 1, 3, 5, 8)
    ]
    assert answer["next"] is None


def test_match_case_and_whole_cell(api, owner, fruit):
    assert find(api, owner, fruit, q="apple", match_case="true")["total"] == 3
    assert find(api, owner, fruit, q="apple", whole_cell="1")["total"] == 2
    assert find(api, owner, fruit, q="apple", whole_cell="1", match_case="1")["total"] == 1


def test_numbers_and_choices_are_found_by_their_text(api, owner, fruit):
    assert [m["col"] for m in find(api, owner, fruit, q="12.5")["matches"]] == ["c2"]
    assert find(api, owner, fruit, q="new", whole_cell="true")["total"] == 1


def test_columns_restrict_the_search(api, owner, fruit):
    assert find(api, owner, fruit, q="e", columns="c7")["total"] == 1
    response = api(owner).get(f"/api/v1/sheets/{fruit.pk}/find/", {"q": "e", "columns": "nope"})
    assert response.status_code == 400


@pytest.mark.parametrize("q", ["a.b*c", "50%_off", "%", "_"])
def test_pattern_characters_are_literal(api, owner, fruit, q):
    expected = sum(1 for name in NAMES if name and q in name)
    assert find(api, owner, fruit, q=q)["total"] == expected


def test_pages_follow_the_cursor_across_cells_of_one_row(api, owner, fruit):
    seen, cursor = [], None
    for _ in range(10):
        params = {"q": "e", "limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = find(api, owner, fruit, **params)
        seen += [(m["row"], m["col"]) for m in answer["matches"]]
        cursor = answer["next"]
        if cursor is None:
            break
    whole = find(api, owner, fruit, q="e", limit=500)
    assert seen == [(m["row"], m["col"]) for m in whole["matches"]]
    assert len(seen) == whole["total"]
    assert (fruit.row_ids[0], "c7") in seen  # two matches in the first row


def test_row_indexes_past_many_checkpoints(api, workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2500)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    wanted = [0, 999, 1000, 1001, 2499]
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[i], "col": "c1", "value": "x"} for i in wanted])
    answer = find(api, owner, sheet, q="x")
    assert [m["index"] for m in answer["matches"]] == wanted


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "x" * 1001}, {"q": "a", "match_case": "maybe"}, {"q": "a", "cursor": "zz"}, {"q": "\x00"}],
)
def test_bad_queries_are_refused(api, owner, fruit, params):
    response = api(owner).get(f"/api/v1/sheets/{fruit.pk}/find/", params)
    assert response.status_code == 400


def test_a_stale_cursor_is_refused(api, owner, fruit):
    cursor = find(api, owner, fruit, q="apple", limit=1)["next"]
    services.rows_delete(sheet=fruit, actor=owner, row_ids=[fruit.row_ids[0]])
    response = api(owner).get(f"/api/v1/sheets/{fruit.pk}/find/", {"q": "apple", "cursor": cursor})
    assert response.status_code == 400


def test_replace_all_is_one_operation_that_undo_reverts(api, owner, fruit):
    before = names(fruit)
    version = fruit.version
    response = replace(api, owner, fruit, q="apple", replacement="pear")
    assert response.status_code == 200, response.content
    assert response.json()["replaced"] == 5
    assert names(fruit) == ["pear pie", "pear", "Banana", "pinepear", None, "pear", "a.b*c", "50%_off", "pear pear"]
    assert Operation.objects.filter(sheet=fruit, version__gt=version).count() == 1
    operation_undo(sheet=fruit, actor=owner)
    assert names(fruit) == before


def test_replace_with_match_case_and_whole_cell(api, owner, fruit):
    assert (
        replace(api, owner, fruit, q="apple", replacement="X", whole_cell=True, match_case=True).json()["replaced"] == 1
    )
    assert names(fruit)[1] == "X"
    assert names(fruit)[5] == "APPLE"


def test_replace_writes_only_text_columns_and_skips_refused_values(api, owner, fruit):
    # 12.5 in the number column is found but never replaced; "new" -> "old" is not a choice.
    answer = replace(api, owner, fruit, q="new", replacement="old").json()
    assert answer["replaced"] == 0 and answer["skipped_count"] == 1
    assert answer["skipped"][0]["col"] == "c7"
    assert Row.objects.get(pk=fruit.row_ids[0]).data["c7"] == "new"
    assert replace(api, owner, fruit, q="12", replacement="99").json()["replaced"] == 0
    assert Row.objects.get(pk=fruit.row_ids[1]).data["c2"] == 12.5
    assert replace(api, owner, fruit, q="new", replacement="shipped").json()["replaced"] == 1


def test_replace_with_nothing_empties_whole_cells(api, owner, fruit):
    assert replace(api, owner, fruit, q="banana", replacement="", whole_cell=True).json()["replaced"] == 1
    assert "c1" not in Row.objects.get(pk=fruit.row_ids[2]).data


def test_nothing_matched_logs_nothing(api, owner, fruit):
    version = fruit.version
    assert replace(api, owner, fruit, q="zzz", replacement="y").json() == {
        "version": version,
        "replaced": 0,
        "skipped": [],
        "skipped_count": 0,
        "operation": None,
    }
    assert not Operation.objects.filter(sheet=fruit, version__gt=version).exists()


def test_too_many_cells_replace_nothing(api, owner, fruit, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_REPLACE_CELLS": 2}
    before = names(fruit)
    assert replace(api, owner, fruit, q="apple", replacement="pear").status_code == 413
    assert names(fruit) == before


@pytest.mark.parametrize(
    "body",
    [
        {"q": "", "replacement": "x"},
        {"q": "a" * 1001, "replacement": "x"},
        {"q": "a", "replacement": 5},
        {"q": "a", "replacement": "x" * 10001},
        {"q": "a", "replacement": "x", "extra": 1},
        {"q": "a", "replacement": "x", "columns": 5},
        {"q": "a", "replacement": "x", "columns": ["nope"]},
        {"q": "a", "replacement": "x", "op_id": "not-a-uuid"},
    ],
)
def test_bad_replacements_are_refused_and_change_nothing(api, owner, fruit, body):
    before = names(fruit)
    response = replace(api, owner, fruit, **body)
    assert response.status_code == 400, response.content
    assert names(fruit) == before


def test_a_viewer_finds_but_may_not_replace(api, viewer, fruit):
    assert find(api, viewer, fruit, q="apple")["total"] == 5
    assert replace(api, viewer, fruit, q="apple", replacement="pear").status_code == 403


def test_replace_is_broadcast_as_a_cells_update(owner, fruit, django_capture_on_commit_callbacks):
    from sheets.find import parse_query
    from sheets.services.replace import replace_all

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = replace_all(sheet=fruit, actor=owner, query=parse_query("Banana"), replacement="Kiwi")
    assert outcome.operation.kind == "cells.update"
    assert outcome.operation.payload["cells"] == [{"row": fruit.row_ids[2], "col": "c1", "value": "Kiwi"}]
    assert callbacks  # announced after the commit, as every operation
