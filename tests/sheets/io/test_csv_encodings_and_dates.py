"""CSV import: legacy encodings detected (Windows-1251 Cyrillic, Windows-1252 Western), and dates
and times as people write them, day-first or month-first decided from the whole column."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sheets import io, selectors
from sheets.io.dates import DateGuess, readings
from sheets.models import Sheet

pytestmark = pytest.mark.django_db


def post(client, workspace, content, query="", **fields):
    data = {"file": SimpleUploadedFile("data.csv", content, content_type="text/csv"), **fields}
    return client.post(f"/api/v1/workspaces/{workspace.pk}/import/{query}", data, format="multipart")


def imported(client, workspace, content, **fields):
    response = post(client, workspace, content, **fields)
    assert response.status_code == 201, response.content
    sheet = Sheet.objects.get(pk=response.json()["id"])
    columns = selectors.sheet_columns(sheet)
    rows = [[data.get(c.key) for c in columns] for _, data in selectors.rows_in_order(sheet)]
    return [(c.name, c.type) for c in columns], rows, response.json()


def test_a_windows_1251_cyrillic_csv_is_read_as_cyrillic(api, workspace, editor):
    text = "Имя,Город\nИван,Москва\nОльга,Санкт-Петербург\nЁжик,Тверь\n"
    columns, rows, _ = imported(api(editor), workspace, text.encode("cp1251"))
    assert columns == [("Имя", "text"), ("Город", "text")]
    assert rows == [["Иван", "Москва"], ["Ольга", "Санкт-Петербург"], ["Ёжик", "Тверь"]]


def test_a_windows_1252_csv_is_read_as_windows_1252(api, workspace, editor):
    text = "Name;Note\nJosé;Zürich – “quoted”\nPeña;año 5 €\nFrançois;Straße\n"
    columns, rows, _ = imported(api(editor), workspace, text.encode("cp1252"))
    assert columns == [("Name", "text"), ("Note", "text")]
    assert rows == [["José", "Zürich – “quoted”"], ["Peña", "año 5 €"], ["François", "Straße"]]


def test_utf8_is_still_utf8(api, workspace, editor):
    _, rows, _ = imported(api(editor), workspace, "a\nМосква €\n".encode())
    assert rows == [["Москва €"]]


def test_dates_as_people_write_them(api, workspace, editor):
    content = (
        b"slash,slash time,named,day named,dotted\n"
        b"2012/01/01,2010/01/01 00:00,Jan 1 2000,1 January 2000,2012.03.04\n"
        b'2012/12/31,2010/06/15 13:45:30,"February 29, 2000",15-Mar-2021,1999.12.31\n'
    )
    columns, rows, body = imported(api(editor), workspace, content)
    assert columns == [
        ("slash", "date"),
        ("slash time", "datetime"),
        ("named", "date"),
        ("day named", "date"),
        ("dotted", "date"),
    ]
    assert rows == [
        ["2012-01-01", "2010-01-01T00:00:00Z", "2000-01-01", "2000-01-01", "2012-03-04"],
        ["2012-12-31", "2010-06-15T13:45:30Z", "2000-02-29", "2021-03-15", "1999-12-31"],
    ]
    assert body["notes"] == []


def test_day_first_or_month_first_is_decided_from_the_whole_column(api, workspace, editor):
    content = b"eu,us,eu time\n01/02/2024,01/02/2024,01.02.2024 10:00\n13/02/2024,02/13/2024,25.12.2024\n"
    columns, rows, _ = imported(api(editor), workspace, content)
    assert columns == [("eu", "date"), ("us", "date"), ("eu time", "datetime")]
    assert rows == [
        ["2024-02-01", "2024-01-02", "2024-02-01T10:00:00Z"],
        ["2024-02-13", "2024-02-13", "2024-12-25T00:00:00Z"],
    ]


def test_an_ambiguous_column_stays_text_and_is_reported_until_an_order_is_given(api, workspace, editor):
    content = b"when,other\n01/02/2024,ab\n03/04/2024,cd\n"
    columns, rows, body = imported(api(editor), workspace, content)
    assert columns == [("when", "text"), ("other", "text")]
    assert rows[0] == ["01/02/2024", "ab"]
    assert len(body["notes"]) == 1 and "'when'" in body["notes"][0] and "date_order" in body["notes"][0]
    preview = post(api(editor), workspace, content, query="?preview=1").json()
    assert preview["worksheets"][0]["notes"] == body["notes"]

    columns, rows, body = imported(api(editor), workspace, content, date_order="dmy")
    assert columns[0] == ("when", "date") and rows[0][0] == "2024-02-01" and body["notes"] == []
    columns, rows, _ = imported(api(editor), workspace, content, date_order="mdy")
    assert rows[0][0] == "2024-01-02"


def test_a_bad_date_order_is_refused(api, workspace, editor):
    response = post(api(editor), workspace, b"a\n1\n", date_order="ymd")
    assert response.status_code == 400
    assert "date_order" in response.json()["error"]["message"]


def test_a_column_with_one_non_date_stays_text(api, workspace, editor):
    columns, rows, _ = imported(api(editor), workspace, b"d\n2012/01/01\nsoon\n31/02/2024\n")
    assert columns == [("d", "text")]
    assert rows == [["2012/01/01"], ["soon"], ["31/02/2024"]]


def test_conflicting_orders_in_one_column_are_no_dates():
    guess = DateGuess()
    for text in ["13/01/2024", "01/13/2024"]:
        guess.add(text)
    assert not guess.is_dates


def test_readings():
    assert readings("Jan 1 2000") == {"dmy": ("2000-01-01", False), "mdy": ("2000-01-01", False)}
    assert readings("Feb 30 2000") is None
    assert readings("13/02/2024") == {"dmy": ("2024-02-13", False)}
    assert readings("2000") is None
    assert readings("1 Foo 2000") is None


def test_iso_columns_are_inferred_as_before(api, workspace, editor):
    plan = io.analyze_csv(__import__("io").BytesIO(b"d,t\n2024-01-02,2024-01-02T10:00:00Z\n"))
    assert [c["type"] for c in plan.columns] == ["date", "datetime"]
    assert plan.dates == {}
