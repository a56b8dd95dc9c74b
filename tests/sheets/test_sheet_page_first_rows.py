"""The sheet page embeds its first window of rows: exactly what GET .../rows/?offset=0 answers the
same person for the url's saved view, sort and filters, with the version it was read at, and
never a view the person may not use; and its built files are cached by browsers for good."""

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from sheets import services
from sheets.models import SheetView

pytestmark = pytest.mark.django_db

FRUIT = [
    {"c1": "pear", "c2": 3},
    {"c1": "Apple", "c2": 10},
    {"c1": "fig", "c2": -1},
    {"c1": "banana", "c2": 2.5},
    {"c1": "kiwi", "c2": 7},
]


@pytest.fixture
def fruit(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, rows=FRUIT)
    sheet.refresh_from_db()
    return sheet


def page_config(user, url):
    client = Client()
    client.force_login(user)
    answer = client.get(url)
    assert answer.status_code == 200
    found = re.search(r'<script id="sheet-config" type="application/json">(.*?)</script>', answer.text, re.S)
    return json.loads(found.group(1))


def rows_api(api, user, sheet, query=""):
    answer = api(user).get(f"/api/v1/sheets/{sheet.pk}/rows/?offset=0&limit=100&{query}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def embedded(config):
    return {key: value for key, value in config["firstRows"].items() if key != "scope"}


def test_the_page_carries_the_rows_the_api_answers_at_the_pages_version(api, editor, fruit):
    config = page_config(editor, f"/sheets/{fruit.pk}/")
    assert embedded(config) == rows_api(api, editor, fruit)
    assert [r["values"]["c1"] for r in config["firstRows"]["rows"]] == [f["c1"] for f in FRUIT]
    assert config["firstRows"]["version"] == config["sheet"]["version"] == fruit.version
    assert config["firstRows"]["scope"] == {"view": None, "sort": None, "filters": []}
    assert config["view"] is None


def test_the_urls_saved_view_sorts_and_filters_the_embedded_rows(api, owner, editor, fruit):
    view = SheetView.objects.create(
        sheet=fruit,
        name="Big first",
        shared=True,
        created_by=owner,
        config={
            "sorts": [{"column": "c2", "direction": "desc"}],
            "filters": {"op": "and", "conditions": [{"column": "c2", "operator": "gt", "value": 0}]},
            "hidden": ["c3"],
        },
    )
    config = page_config(editor, f"/sheets/{fruit.pk}/?view={view.pk}")
    assert embedded(config) == rows_api(api, editor, fruit, f"view={view.pk}")
    assert [r["values"]["c1"] for r in config["firstRows"]["rows"]] == ["Apple", "kiwi", "pear", "banana"]
    assert config["firstRows"]["total"] == 4
    assert config["firstRows"]["scope"] == {"view": view.pk, "sort": None, "filters": []}
    assert config["view"]["id"] == view.pk and config["view"]["config"]["hidden"] == ["c3"]


def test_the_urls_sort_and_filters_apply_as_the_rows_api_takes_them(api, editor, fruit):
    query = "sort=c1&filter=c2:lt:5"
    config = page_config(editor, f"/sheets/{fruit.pk}/?{query}")
    assert embedded(config) == rows_api(api, editor, fruit, query)
    assert [r["values"]["c1"] for r in config["firstRows"]["rows"]] == ["banana", "fig", "pear"]
    assert config["firstRows"]["scope"] == {"view": None, "sort": "c1", "filters": [["c2", "lt", "5"]]}


def test_someone_elses_personal_view_is_not_embedded(api, owner, editor, fruit):
    personal = SheetView.objects.create(
        sheet=fruit,
        name="Mine",
        shared=False,
        created_by=owner,
        config={"filters": {"op": "and", "conditions": [{"column": "c1", "operator": "eq", "value": "fig"}]}},
    )
    assert api(editor).get(f"/api/v1/sheets/{fruit.pk}/rows/?view={personal.pk}").status_code == 404
    config = page_config(editor, f"/sheets/{fruit.pk}/?view={personal.pk}")
    assert config["view"] is None
    assert config["firstRows"]["scope"] == {"view": None, "sort": None, "filters": []}
    assert embedded(config) == rows_api(api, editor, fruit)  # every row, not the personal view's one


def test_a_bad_url_filter_falls_back_to_every_row(api, editor, fruit):
    config = page_config(editor, f"/sheets/{fruit.pk}/?filter=c2:nope:1&sort=zz")
    assert config["firstRows"]["scope"] == {"view": None, "sort": None, "filters": []}
    assert config["firstRows"]["total"] == len(FRUIT)


def test_no_access_no_rows(outsider, fruit):
    client = Client()
    client.force_login(outsider)
    answer = client.get(f"/sheets/{fruit.pk}/")
    assert answer.status_code == 404
    assert b"pear" not in answer.content


def test_the_pages_built_files_are_cached_for_good(client):
    path = settings.BASE_DIR / "static" / "dist" / "manifest.json"
    if not path.exists():
        pytest.skip("the front end is not built (make frontend)")
    manifest = json.loads(path.read_text())
    built = manifest["src/entries/sheet.js"]["file"]
    answer = client.get(f"/static/dist/{built}")
    assert answer.status_code == 200
    assert "immutable" in answer["Cache-Control"]
    assert "immutable" not in client.get("/static/dist/manifest.json").get("Cache-Control", "")
