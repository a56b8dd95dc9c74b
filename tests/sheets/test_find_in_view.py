"""Find and replace-all within a view (sheets.find.Scope): only the rows the view shows count and
are visited, in the view's order, with each row's index in the view; replace-all changes only them."""

import pytest

from sheets import services
from sheets.models import Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

# (name, amount): the view keeps amounts of at least 10, sorted by amount descending.
DATA = [("apple", 5), ("apple pie", 30), ("banana", 40), ("pineapple", 20), ("apple", 1), ("crab apple", 10)]


@pytest.fixture
def fruit(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=len(DATA))
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    cells = [{"row": r, "col": "c1", "value": name} for r, (name, _) in zip(rows, DATA, strict=True)]
    cells += [{"row": r, "col": "c2", "value": amount} for r, (_, amount) in zip(rows, DATA, strict=True)]
    services.cells_update(sheet=sheet, actor=owner, cells=cells)
    sheet.row_ids = rows
    return sheet


@pytest.fixture
def big_ones(api, owner, fruit):
    config = {
        "filters": {"op": "and", "conditions": [{"column": "c2", "operator": "gte", "value": 10}]},
        "sorts": [{"column": "c2", "direction": "desc"}],
    }
    answer = api(owner).post(f"/api/v1/sheets/{fruit.pk}/views/", {"name": "Big", "config": config}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def find(api, user, sheet, **params):
    response = api(user).get(f"/api/v1/sheets/{sheet.pk}/find/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_view_counts_and_visits_only_its_rows_in_its_order(api, owner, fruit, big_ones):
    rows = fruit.row_ids
    assert find(api, owner, fruit, q="apple")["total"] == 5  # the whole sheet
    answer = find(api, owner, fruit, q="apple", view=big_ones)
    assert answer["total"] == 3
    # The view's order: banana 40, apple pie 30, pineapple 20, crab apple 10.
    assert [(m["row"], m["index"]) for m in answer["matches"]] == [(rows[1], 1), (rows[3], 2), (rows[5], 3)]
    rows_api = api(owner).get(f"/api/v1/sheets/{fruit.pk}/rows/", {"view": big_ones}).json()["rows"]
    assert [rows_api[m["index"]]["id"] for m in answer["matches"]] == [m["row"] for m in answer["matches"]]


def test_ad_hoc_filters_and_sort_are_the_rows_apis(api, owner, fruit):
    rows = fruit.row_ids
    answer = find(api, owner, fruit, q="apple", filter="c2:lt:25", sort="c2")
    expected = [(rows[4], 0), (rows[0], 1), (rows[5], 2), (rows[3], 3)]  # amounts 1, 5, 10, 20
    assert [(m["row"], m["index"]) for m in answer["matches"]] == expected
    assert find(api, owner, fruit, q="apple", filter="c2:lt:25")["total"] == 4


def test_pages_in_a_view_follow_the_cursor(api, owner, fruit, big_ones):
    # Two matches of "e" in one row: a page may end between them.
    services.cells_update(sheet=fruit, actor=owner, cells=[{"row": fruit.row_ids[1], "col": "c7", "value": "new"}])
    seen, cursor = [], None
    while True:
        params = {"q": "e", "view": big_ones, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = find(api, owner, fruit, **params)
        seen += [(m["row"], m["col"]) for m in answer["matches"]]
        cursor = answer["next"]
        if not cursor:
            break
    rows = fruit.row_ids
    assert seen == [(rows[1], "c1"), (rows[1], "c7"), (rows[3], "c1"), (rows[5], "c1")]
    assert answer["total"] == 4


@pytest.mark.parametrize("cursor", ["x", "1:2", "1:2:c99", "a:2:c1", "1" * 19 + ":2:c1"])
def test_a_bad_view_cursor_is_refused(api, owner, fruit, big_ones, cursor):
    response = api(owner).get(f"/api/v1/sheets/{fruit.pk}/find/", {"q": "a", "view": big_ones, "cursor": cursor})
    assert response.status_code == 400


def test_another_users_personal_view_is_not_found(api, editor, fruit, big_ones):
    response = api(editor).get(f"/api/v1/sheets/{fruit.pk}/find/", {"q": "a", "view": big_ones})
    assert response.status_code == 404


def test_replace_all_in_a_view_changes_only_the_rows_it_shows(api, owner, fruit, big_ones):
    response = api(owner).post(
        f"/api/v1/sheets/{fruit.pk}/replace/?view={big_ones}", {"q": "apple", "replacement": "pear"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["replaced"] == 3
    names = list(Row.objects.filter(sheet=fruit).order_by("position").values_list("data__c1", flat=True))
    assert names == ["apple", "pear pie", "banana", "pinepear", "apple", "crab pear"]
    response = api(owner).post(
        f"/api/v1/sheets/{fruit.pk}/replace/?filter=c2:lt:3", {"q": "apple", "replacement": "fig"}, format="json"
    )
    assert response.json()["replaced"] == 1
    assert Row.objects.get(pk=fruit.row_ids[4]).data["c1"] == "fig"
