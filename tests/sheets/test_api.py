"""REST API of sheets, columns, rows, cells and the operation log: results, errors, idempotency."""

import json
import re
import uuid

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema

from sheets.models import Column, Operation, Row, Sheet

from ..factories import WorkspaceFactory, make_sheet, member, user

pytestmark = pytest.mark.django_db


def url(sheet, rest=""):
    return f"/api/v1/sheets/{sheet.pk}/{rest}"


def data(sheet):
    return {r.pk: r.data for r in Row.objects.filter(sheet=sheet)}


def version(sheet):
    return Sheet.objects.get(pk=sheet.pk).version


@pytest.fixture
def rows(sheet):
    from sheets import services

    op = services.rows_insert(sheet=sheet, actor=sheet.created_by, count=3)
    sheet.refresh_from_db()
    return [r["id"] for r in op.payload["rows"]]


def assert_error(response, status, code):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


# --- cells -------------------------------------------------------------------------------------


def test_cells_batch_returns_version_op_id_and_changes(api, editor, sheet, rows):
    op_id = str(uuid.uuid4())
    response = api(editor).post(
        url(sheet, "cells/"),
        {
            "op_id": op_id,
            "cells": [
                {"row": rows[0], "col": "c1", "value": "Widget"},
                {"row": rows[0], "col": "c2", "value": "1,234.5"},
                {"row": rows[1], "col": "c4", "value": "yes"},
            ],
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == version(sheet) == sheet.version + 1
    assert body["op_id"] == op_id and body["kind"] == "cells.update" and body["actor"] == editor.pk
    assert body["changes"] == {
        "cells": [
            {"row": rows[0], "col": "c1", "value": "Widget"},
            {"row": rows[0], "col": "c2", "value": 1234.5},
            {"row": rows[1], "col": "c4", "value": True},
        ]
    }
    assert data(sheet)[rows[0]] == {"c1": "Widget", "c2": 1234.5}
    assert data(sheet)[rows[1]] == {"c4": True}


def test_a_resent_op_id_is_applied_once(api, editor, sheet, rows):
    op_id = str(uuid.uuid4())
    client = api(editor)
    first = client.post(
        url(sheet, "cells/"), {"op_id": op_id, "cells": [{"row": rows[0], "col": "c3", "value": 1}]}, format="json"
    )
    # Another edit by someone else lands in between; the resend must not overwrite it.
    api(sheet.created_by).post(
        url(sheet, "cells/"), {"cells": [{"row": rows[0], "col": "c3", "value": 2}]}, format="json"
    )
    again = client.post(
        url(sheet, "cells/"), {"op_id": op_id, "cells": [{"row": rows[0], "col": "c3", "value": 1}]}, format="json"
    )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert data(sheet)[rows[0]] == {"c3": 2}
    assert Operation.objects.filter(op_id=op_id).count() == 1
    assert version(sheet) == first.json()["version"] + 1


def test_op_id_reused_for_another_kind_is_409(api, editor, sheet, rows):
    op_id = str(uuid.uuid4())
    client = api(editor)
    assert (
        client.post(
            url(sheet, "cells/"),
            {"op_id": op_id, "cells": [{"row": rows[0], "col": "c1", "value": "a"}]},
            format="json",
        ).status_code
        == 200
    )
    before = version(sheet)
    error = assert_error(client.post(url(sheet, "rows/"), {"op_id": op_id, "count": 1}, format="json"), 409, "conflict")
    assert error["op_id"] == op_id
    assert version(sheet) == before and len(data(sheet)) == 3


def test_a_bad_value_is_400_naming_row_and_column_and_nothing_is_applied(api, editor, sheet, rows):
    before = version(sheet)
    response = api(editor).post(
        url(sheet, "cells/"),
        {
            "cells": [
                {"row": rows[0], "col": "c1", "value": "fine"},
                {"row": rows[1], "col": "c2", "value": "lots"},
            ]
        },
        format="json",
    )
    error = assert_error(response, 400, "invalid_value")
    assert (error["row"], error["col"]) == (rows[1], "c2")
    assert "Amount" in error["message"] and "not a number" in error["message"]
    assert version(sheet) == before and all(d == {} for d in data(sheet).values())


def test_a_row_of_another_sheet_is_rejected(api, owner, workspace, sheet, rows):
    other = make_sheet(workspace, owner, rows=1, name="Other")
    foreign_row = Row.objects.get(sheet=other).pk
    error = assert_error(
        api(owner).post(
            url(sheet, "cells/"), {"cells": [{"row": foreign_row, "col": "c1", "value": "x"}]}, format="json"
        ),
        400,
        "invalid_value",
    )
    assert error["row"] == foreign_row
    assert Row.objects.get(pk=foreign_row).data == {}


@pytest.mark.parametrize(
    "body",
    [
        {"cells": []},
        {"cells": "A1"},
        {},
        {"cells": [{"row": "x", "col": "c1", "value": 1}]},
        {"cells": [{"row": 1, "value": 1}]},
        {"cells": [{"row": 1, "col": "c1", "extra": 1}]},
        {"op_id": "nope", "cells": [{}]},
    ],
)
def test_malformed_batches_are_400(api, editor, sheet, rows, body):
    before = version(sheet)
    assert_error(api(editor).post(url(sheet, "cells/"), body, format="json"), 400, "invalid")
    assert version(sheet) == before


def test_malformed_json_is_400(api, editor, sheet):
    response = api(editor).post(url(sheet, "cells/"), '{"cells": [', content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_too_many_cells_in_one_batch_is_413(api, editor, sheet, rows, settings):
    limit = settings.GRIDCAST["MAX_BATCH_CELLS"]
    cells = [{"row": rows[i % 3], "col": "c3", "value": i} for i in range(limit + 1)]
    before = version(sheet)
    assert_error(api(editor).post(url(sheet, "cells/"), {"cells": cells}, format="json"), 413, "too_large")
    assert version(sheet) == before and all(d == {} for d in data(sheet).values())
    assert api(editor).post(url(sheet, "cells/"), {"cells": cells[:limit]}, format="json").status_code == 200


def test_a_body_over_the_upload_limit_is_413(api, editor, sheet, rows, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    cells = [{"row": rows[0], "col": "c1", "value": "x" * 3000}]
    before = version(sheet)
    assert_error(api(editor).post(url(sheet, "cells/"), {"cells": cells}, format="json"), 413, "too_large")
    assert version(sheet) == before
    small = [{"row": rows[0], "col": "c1", "value": "x" * 100}]
    assert api(editor).post(url(sheet, "cells/"), {"cells": small}, format="json").status_code == 200


def test_viewer_writing_is_403_and_outsider_404(api, viewer, outsider, sheet, rows):
    body = {"cells": [{"row": rows[0], "col": "c1", "value": "x"}]}
    assert_error(api(viewer).post(url(sheet, "cells/"), body, format="json"), 403, "forbidden")
    assert_error(api(outsider).post(url(sheet, "cells/"), body, format="json"), 404, "not_found")
    assert_error(api(viewer).get("/api/v1/sheets/999999/"), 404, "not_found")
    assert all(d == {} for d in data(sheet).values())


def test_unknown_method_is_405_json(api, editor, sheet):
    assert_error(api(editor).put(url(sheet), {"name": "x"}, format="json"), 405, "method_not_allowed")


# --- sheets ------------------------------------------------------------------------------------


def test_create_sheet_with_columns_and_read_it(api, editor, workspace):
    response = api(editor).post(
        "/api/v1/sheets/",
        {
            "workspace": workspace.pk,
            "name": "Budget",
            "columns": [{"name": "Item"}, {"name": "Cost", "type": "number"}],
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Budget" and body["workspace"] == workspace.pk and body["access"] == "edit"
    assert [(c["key"], c["name"], c["type"]) for c in body["columns"]] == [
        ("c1", "Item", "text"),
        ("c2", "Cost", "number"),
    ]
    detail = api(editor).get(f"/api/v1/sheets/{body['id']}/").json()
    assert detail["row_count"] == 0 and detail["access"] == "edit"
    assert (
        detail["version"] == body["version"] == Operation.objects.filter(sheet_id=body["id"]).latest("version").version
    )


def test_create_sheet_without_columns_gets_a_b_c(api, owner, workspace):
    body = api(owner).post("/api/v1/sheets/", {"workspace": workspace.pk, "name": "Blank"}, format="json").json()
    assert [c["name"] for c in body["columns"]] == ["A", "B", "C"] and body["access"] == "own"


@pytest.mark.parametrize("role,access", [("owner", "own"), ("editor", "edit"), ("viewer", "view")])
def test_sheet_detail_tells_the_callers_access(api, sheet, rows, role, access, request):
    detail = api(request.getfixturevalue(role)).get(url(sheet)).json()
    assert detail["access"] == access and detail["row_count"] == 3 and detail["version"] == sheet.version


def test_rename_sheet_is_an_operation(api, editor, sheet):
    response = api(editor).patch(url(sheet), {"name": " Sales "}, format="json")
    assert response.status_code == 200
    assert response.json()["kind"] == "sheet.rename" and response.json()["changes"] == {"name": "Sales"}
    assert Sheet.objects.get(pk=sheet.pk).name == "Sales"
    assert_error(api(editor).patch(url(sheet), {"name": ""}, format="json"), 400, "invalid")


def test_delete_sheet(api, owner, sheet):
    assert api(owner).delete(url(sheet)).status_code == 204
    assert_error(api(owner).get(url(sheet)), 404, "not_found")


def test_share_gives_one_sheet_and_unshare_takes_it_back(api, owner, workspace, sheet):
    other = make_sheet(workspace, owner, name="Private")
    friend = user()
    client = api(friend)
    response = api(owner).post(url(sheet, "share/"), {"email": friend.email.upper(), "level": "edit"}, format="json")
    assert response.status_code == 202
    assert {k: response.json()[k] for k in ("email", "level")} == {"email": friend.email, "level": "edit"}
    assert [s["id"] for s in client.get("/api/v1/sheets/").json()] == [sheet.pk]
    assert client.get(url(sheet)).json()["access"] == "edit"
    assert client.patch(url(sheet), {"name": "Ours"}, format="json").status_code == 200
    assert_error(client.get(url(other)), 404, "not_found")
    assert_error(client.get(f"/api/v1/workspaces/{workspace.pk}/"), 404, "not_found")

    assert (
        api(owner).post(url(sheet, "share/"), {"email": friend.email, "level": "view"}, format="json").status_code
        == 202
    )
    assert client.get(url(sheet)).json()["access"] == "view"
    assert_error(client.patch(url(sheet), {"name": "Mine"}, format="json"), 403, "forbidden")

    assert (
        api(owner).post(url(sheet, "share/"), {"email": friend.email, "level": None}, format="json").status_code == 202
    )
    assert client.get("/api/v1/sheets/").json() == []
    assert_error(client.get(url(sheet)), 404, "not_found")


def test_share_with_unknown_email_waits_and_unknown_level_is_rejected(api, owner, sheet):
    # An address without an account answers as one with an account does (tests/accounts/
    # test_account_enumeration.py); the share waits until an account verifies it.
    assert (
        api(owner)
        .post(url(sheet, "share/"), {"email": "ghost@example.com", "level": "view"}, format="json")
        .status_code
        == 202
    )
    assert_error(
        api(owner).post(url(sheet, "share/"), {"email": user().email, "level": "own"}, format="json"), 400, "invalid"
    )


@pytest.mark.parametrize("query", ["workspace=abc", "workspace=-1"])
def test_sheet_list_with_bad_workspace_param_is_400(api, owner, query):
    assert_error(api(owner).get(f"/api/v1/sheets/?{query}"), 400, "invalid")


def test_sheet_list_filtered_by_workspace(api, owner, workspace, sheet):
    other = WorkspaceFactory()
    from accounts.models import Membership, Role

    Membership.objects.create(workspace=other, user=owner, role=Role.OWNER)
    elsewhere = make_sheet(other, owner, name="Elsewhere")
    client = api(owner)
    assert {s["id"] for s in client.get("/api/v1/sheets/").json()} == {sheet.pk, elsewhere.pk}
    assert [s["id"] for s in client.get(f"/api/v1/sheets/?workspace={other.pk}").json()] == [elsewhere.pk]


# --- columns -----------------------------------------------------------------------------------


def test_add_rename_retype_move_and_delete_columns(api, editor, sheet, rows):
    client = api(editor)
    added = client.post(url(sheet, "columns/"), {"name": "Notes", "after": "c1"}, format="json")
    assert added.status_code == 201 and added.json()["kind"] == "column.add"
    key = added.json()["changes"]["column"]["key"]
    assert [c["key"] for c in client.get(url(sheet, "columns/")).json()][:2] == ["c1", key]

    client.post(url(sheet, "cells/"), {"cells": [{"row": rows[0], "col": key, "value": "12"}]}, format="json")
    changed = client.patch(
        url(sheet, f"columns/{key}/"), {"name": "Qty", "type": "integer", "before": "c1"}, format="json"
    )
    assert changed.status_code == 200
    assert [op["kind"] for op in changed.json()] == ["column.rename", "column.retype", "column.move"]
    column = Column.objects.get(sheet=sheet, key=key)
    assert (column.name, column.type) == ("Qty", "integer")
    assert data(sheet)[rows[0]][key] == 12
    assert client.get(url(sheet, "columns/")).json()[0]["key"] == key

    assert client.delete(url(sheet, f"columns/{key}/")).status_code == 200
    assert key not in [c["key"] for c in client.get(url(sheet, "columns/")).json()]
    assert_error(client.delete(url(sheet, f"columns/{key}/")), 404, "not_found")


def test_duplicate_column_name_is_409(api, editor, sheet):
    count = Column.objects.filter(sheet=sheet).count()
    assert_error(api(editor).post(url(sheet, "columns/"), {"name": "amount"}, format="json"), 409, "conflict")
    assert_error(api(editor).patch(url(sheet, "columns/c1/"), {"name": "AMOUNT"}, format="json"), 409, "conflict")
    assert Column.objects.filter(sheet=sheet).count() == count
    assert Column.objects.get(sheet=sheet, key="c1").name == "Name"


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"name": "X", "type": "colour"}, 400, "invalid"),
        ({"name": ""}, 400, "invalid"),
        ({"name": "X", "after": "c99"}, 404, "not_found"),
        ({"name": "X", "type": "choice", "options": {"choices": "abc"}}, 400, "invalid"),
    ],
)
def test_bad_column_is_rejected(api, editor, sheet, body, status, code):
    count = Column.objects.filter(sheet=sheet).count()
    assert_error(api(editor).post(url(sheet, "columns/"), body, format="json"), status, code)
    assert Column.objects.filter(sheet=sheet).count() == count


def test_a_failing_column_change_applies_none_of_its_parts(api, editor, sheet):
    before = version(sheet)
    response = api(editor).patch(url(sheet, "columns/c1/"), {"name": "Renamed", "after": "c99"}, format="json")
    assert_error(response, 404, "not_found")
    assert Column.objects.get(sheet=sheet, key="c1").name == "Name"
    assert version(sheet) == before


def test_column_change_needs_something_to_change(api, editor, sheet):
    assert_error(api(editor).patch(url(sheet, "columns/c1/"), {}, format="json"), 400, "invalid")


# --- rows --------------------------------------------------------------------------------------


@pytest.fixture
def filled(api, owner, sheet):
    names = ["pear", "apple", "fig", "kiwi", "banana", "cherry"]
    response = api(owner).post(
        url(sheet, "rows/"),
        {
            "rows": [
                {"c1": name, "c3": index, "c7": "shipped" if index % 2 else "new"} for index, name in enumerate(names)
            ]
        },
        format="json",
    )
    assert response.status_code == 201
    return [r["id"] for r in response.json()["changes"]["rows"]]


def names(response):
    return [r["values"]["c1"] for r in response.json()["rows"]]


def test_rows_window_offset_and_limit(api, viewer, sheet, filled):
    response = api(viewer).get(url(sheet, "rows/?offset=2&limit=3"))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 6 and body["version"] == version(sheet)
    assert names(response) == ["fig", "kiwi", "banana"]
    assert [r["index"] for r in body["rows"]] == [2, 3, 4]
    assert [r["id"] for r in body["rows"]] == filled[2:5]
    assert set(body["rows"][0]["values"]) == {f"c{i}" for i in range(1, 8)}
    assert api(viewer).get(url(sheet, "rows/?offset=10")).json() == {"version": version(sheet), "rows": [], "total": 6}


def test_rows_window_filter_and_sort(api, viewer, sheet, filled):
    client = api(viewer)
    shipped = client.get(url(sheet, "rows/?filter=c7:eq:shipped&sort=c1"))
    assert names(shipped) == ["apple", "cherry", "kiwi"] and shipped.json()["total"] == 3
    assert names(client.get(url(sheet, "rows/?sort=-c3&limit=2"))) == ["cherry", "banana"]
    both = client.get(url(sheet, "rows/?filter=c3:gte:2&filter=c1:contains:an&sort=c1"))
    assert names(both) == ["banana"]
    assert names(client.get(url(sheet, "rows/?filter=c3:lt:2&sort=-c1&offset=1"))) == ["apple"]


@pytest.mark.parametrize(
    "query,col",
    [
        ("offset=-1", None),
        ("limit=0", None),
        ("limit=5000", None),
        ("limit=ten", None),
        ("offset=1.5", None),
        ("filter=c99:eq:1", "c99"),
        ("filter=c1", None),
        ("filter=c1:like:x", None),
        ("filter=c3:gt:many", "c3"),
        ("sort=c42", "c42"),
    ],
)
def test_bad_row_query_params_are_400(api, viewer, sheet, filled, query, col):
    error = assert_error(api(viewer).get(url(sheet, f"rows/?{query}")), 400, "invalid")
    if col:
        assert error["col"] == col


def test_insert_move_and_delete_rows(api, editor, sheet, rows):
    client = api(editor)
    inserted = client.post(url(sheet, "rows/"), {"count": 2, "after": rows[0]}, format="json")
    assert inserted.status_code == 201 and inserted.json()["kind"] == "rows.insert"
    new = [r["id"] for r in inserted.json()["changes"]["rows"]]
    order = lambda: [r["id"] for r in client.get(url(sheet, "rows/")).json()["rows"]]  # noqa: E731
    assert order() == [rows[0], *new, rows[1], rows[2]]

    moved = client.post(url(sheet, "rows/move/"), {"row_ids": [rows[2]], "before": rows[0]}, format="json")
    assert moved.status_code == 200 and moved.json()["kind"] == "rows.move"
    assert order() == [rows[2], rows[0], *new, rows[1]]

    deleted = client.post(url(sheet, "rows/delete/"), {"row_ids": new}, format="json")
    assert deleted.status_code == 200 and deleted.json()["changes"] == {"ids": new}
    assert order() == [rows[2], rows[0], rows[1]]
    assert client.get(url(sheet)).json()["row_count"] == 3


@pytest.mark.parametrize(
    "path,body,status,code",
    [
        ("rows/", {}, 400, "invalid"),
        ("rows/", {"count": 1, "rows": [{}]}, 400, "invalid"),
        ("rows/", {"count": 0}, 400, "invalid"),
        ("rows/", {"rows": [{"c2": "many"}]}, 400, "invalid_value"),
        ("rows/", {"count": 1, "after": 999999}, 404, "not_found"),
        ("rows/delete/", {"row_ids": [999999]}, 404, "not_found"),
        ("rows/delete/", {"row_ids": []}, 400, "invalid"),
        ("rows/move/", {"row_ids": [999999]}, 404, "not_found"),
    ],
)
def test_bad_row_writes_are_rejected(api, editor, sheet, rows, path, body, status, code):
    before = version(sheet)
    assert_error(api(editor).post(url(sheet, path), body, format="json"), status, code)
    assert version(sheet) == before and Row.objects.filter(sheet=sheet).count() == 3


def test_too_many_rows_at_once_is_413(api, editor, sheet, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_INSERT_ROWS": 5}
    assert_error(api(editor).post(url(sheet, "rows/"), {"count": 6}, format="json"), 413, "too_large")
    assert not Row.objects.filter(sheet=sheet).exists()


# --- operations --------------------------------------------------------------------------------


def test_operations_since_a_version(api, editor, sheet, rows):
    """(For editors only: tests/sheets/test_history_access.py.)"""
    start = version(sheet)
    client = api(editor)
    for value in ("a", "b", "c"):
        client.post(url(sheet, "cells/"), {"cells": [{"row": rows[0], "col": "c1", "value": value}]}, format="json")
    response = api(editor).get(url(sheet, f"operations/?since={start + 1}"))
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == start + 3
    assert [op["version"] for op in body["operations"]] == [start + 2, start + 3]
    assert [op["changes"]["cells"][0]["value"] for op in body["operations"]] == ["b", "c"]
    assert all(op["actor"] == editor.pk and op["kind"] == "cells.update" for op in body["operations"])
    assert [
        op["version"] for op in api(editor).get(url(sheet, "operations/?since=0&limit=2")).json()["operations"]
    ] == [1, 2]
    assert api(editor).get(url(sheet, f"operations/?since={start + 3}")).json()["operations"] == []


@pytest.mark.parametrize("query", ["since=-1", "since=x", "since=0&limit=0"])
def test_bad_operations_params_are_400(api, editor, sheet, query):
    assert_error(api(editor).get(url(sheet, f"operations/?{query}")), 400, "invalid")


# --- schema and docs ---------------------------------------------------------------------------


def test_openapi_schema_generates_without_warnings_or_errors(api, viewer):
    GENERATOR_STATS.reset()
    response = api(viewer).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, (
        dict(GENERATOR_STATS._warn_cache),
        dict(GENERATOR_STATS._error_cache),
    )
    schema = json.loads(response.content)
    validate_schema(schema)
    from analytics.urls import urlpatterns as analytics_urls
    from sheets.api.urls import urlpatterns

    param = re.compile(r"\{[^}]+\}|<[^>]+>")
    expected = {param.sub("{}", "/api/v1/" + str(p.pattern)) for p in urlpatterns + analytics_urls}
    expected -= {"/api/v1/schema/", "/api/v1/docs/"}
    assert {param.sub("{}", p) for p in schema["paths"]} == expected
    methods = {(param.sub("{}", path), method) for path, ops in schema["paths"].items() for method in ops}
    assert {
        ("/api/v1/sheets/{}/", "delete"),
        ("/api/v1/tokens/{}/", "delete"),
        ("/api/v1/workspaces/{}/members/{}/", "patch"),
    } <= methods
    assert "Token" in json.dumps(schema["components"]["securitySchemes"])


def test_docs_page(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower() and b"/api/v1/schema/" in response.content


def test_another_workspaces_member_sees_nothing(api, sheet):
    stranger = member(WorkspaceFactory())
    for path in ("", "columns/", "rows/", "operations/?since=0"):
        assert_error(api(stranger).get(url(sheet, path)), 404, "not_found")
