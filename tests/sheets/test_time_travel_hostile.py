"""Threat: hostile input to time travel (rows as of, diff, restore) makes the server fail or half
apply a restore. Generated query parameters and bodies get a clear 4xx (or a 200), never a 5xx,
and a refused restore leaves the sheet's version as it was."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheets import services
from sheets.models import Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

TEXT = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=40),
    st.sampled_from(
        ["1", "2", "3", "0", "-1", "1e3", "0x10", " 2 ", "2026-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59"]
    ),
    st.sampled_from(["2026-13-01", "T", "1\x00", "２", "+24:00", "2026-01-01T00:00:00+99:00", "0001-01-01"]),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
SCOPES = st.one_of(st.sampled_from(["cell", "row", "column", "sheet"]), JSON)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def room(workspace, owner, editor):
    sheet = make_sheet(workspace, owner, rows=3)
    row = Row.objects.filter(sheet=sheet).values_list("pk", flat=True).first()
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "a"}])
    sheet.refresh_from_db()
    return sheet, row


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["as_of", "as_of_time", "offset", "limit", "sort"]), TEXT, max_size=4))
def test_rows_as_of_never_fails(api, room, editor, params):
    sheet, _ = room
    if not {"as_of", "as_of_time"} & set(params):
        params["as_of"] = "1"
    answer = api(editor).get(f"/api/v1/sheets/{sheet.pk}/rows/", params)
    assert answer.status_code in (200, 400), answer.content[:300]


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["from", "to"]), TEXT, max_size=2))
def test_diff_never_fails(api, room, editor, params):
    sheet, _ = room
    answer = api(editor).get(f"/api/v1/sheets/{sheet.pk}/diff/", params)
    assert answer.status_code in (200, 400), answer.content[:300]


@FUZZ
@given(
    version=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.integers(1, 4), JSON),
    scope=SCOPES,
    row=st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70), JSON, st.just("ROW")),
    col=st.one_of(st.none(), st.sampled_from(["c1", "c2", "c99", "", "c1\x00"]), JSON),
    extra=st.dictionaries(st.text(max_size=8), JSON, max_size=2),
)
def test_restore_never_fails_nor_half_applies(api, room, editor, version, scope, row, col, extra):
    sheet, real_row = room
    body = {**extra, "version": version, "scope": scope}
    if row is not None:
        body["row"] = real_row if row == "ROW" else row
    if col is not None:
        body["col"] = col
    before = sheet.version
    answer = api(editor).post(f"/api/v1/sheets/{sheet.pk}/restore/", body, format="json")
    assert answer.status_code in (200, 400, 404, 413), answer.content[:300]
    sheet.refresh_from_db()
    assert sheet.version == (before + 1 if answer.status_code == 200 else before)
