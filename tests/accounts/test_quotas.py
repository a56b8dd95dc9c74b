"""Threat: one tenant fills the shared database (and every evaluation pass) with unbounded sheets,
alert rules or API tokens. Each is capped (settings.GRIDCAST, from the environment); over a cap a
creation answers 403 {"error": {"code": "quota_exceeded", "quota": ..., "limit": ...}} and makes
nothing, over REST, CSV import and the services alike."""

import io

import pytest
from django.conf import settings
from django.test import override_settings

from accounts.models import ApiToken
from analytics.models import AlertRule
from core.errors import QuotaExceeded
from sheets import io as sheet_io
from sheets.models import Sheet
from tests.factories import WorkspaceFactory, make_sheet

pytestmark = pytest.mark.django_db

RULE = {
    "name": "Errors",
    "metric": "error_rate",
    "agg": "avg",
    "window_seconds": 60,
    "comparison": ">",
    "threshold": 0.05,
}


def quotas(**changed):
    return override_settings(GRIDCAST={**settings.GRIDCAST, **changed})


def assert_quota(response, quota, limit):
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["quota"] == quota and error["limit"] == limit
    assert str(limit) in error["message"]


def test_sheets_per_workspace(api, owner, workspace):
    client = api(owner)
    with quotas(MAX_SHEETS_PER_WORKSPACE=2):
        for n in range(2):
            assert (
                client.post("/api/v1/sheets/", {"workspace": workspace.pk, "name": f"S{n}"}, format="json").status_code
                == 201
            )
        assert_quota(
            client.post("/api/v1/sheets/", {"workspace": workspace.pk, "name": "S3"}, format="json"),
            "MAX_SHEETS_PER_WORKSPACE",
            2,
        )
        assert Sheet.objects.filter(workspace=workspace).count() == 2
        # another workspace has its own count
        other = WorkspaceFactory()
        make_sheet(other, owner)


def test_a_csv_import_counts_as_a_sheet(owner, workspace):
    make_sheet(workspace, owner)
    with quotas(MAX_SHEETS_PER_WORKSPACE=1):
        with pytest.raises(QuotaExceeded) as raised:
            sheet_io.csv_import(file=io.BytesIO(b"a,b\n1,2\n"), workspace=workspace, actor=owner, name="Imported")
    assert raised.value.as_dict()["quota"] == "MAX_SHEETS_PER_WORKSPACE"
    assert Sheet.objects.filter(workspace=workspace).count() == 1


def test_alert_rules_per_workspace(api, editor, workspace):
    client = api(editor)
    url = f"/api/v1/workspaces/{workspace.pk}/alerts/"
    with quotas(MAX_ALERT_RULES_PER_WORKSPACE=2):
        for n in range(2):
            assert client.post(url, {**RULE, "name": f"R{n}"}, format="json").status_code == 201
        assert_quota(client.post(url, RULE, format="json"), "MAX_ALERT_RULES_PER_WORKSPACE", 2)
    assert AlertRule.objects.filter(workspace=workspace).count() == 2


def test_tokens_per_user(api, owner, workspace):
    client = api(owner)
    with quotas(MAX_TOKENS_PER_USER=2):
        for n in range(2):
            assert client.post("/api/v1/tokens/", {"name": f"T{n}"}, format="json").status_code == 201
        assert_quota(client.post("/api/v1/tokens/", {"name": "T3"}, format="json"), "MAX_TOKENS_PER_USER", 2)
    assert ApiToken.objects.filter(user=owner).count() == 2


def test_defaults_come_from_the_environment():
    for quota in ("MAX_SHEETS_PER_WORKSPACE", "MAX_ALERT_RULES_PER_WORKSPACE", "MAX_TOKENS_PER_USER"):
        assert settings.GRIDCAST[quota] > 0


def test_a_background_import_is_refused_at_upload_when_the_workspace_is_full(api, editor, workspace, owner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from sheets.models import ImportJob

    make_sheet(workspace, owner)
    content = b"id,label\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(200))
    with quotas(MAX_SHEETS_PER_WORKSPACE=1, IMPORT_INLINE_BYTES=100):
        response = api(editor).post(
            f"/api/v1/workspaces/{workspace.pk}/import/",
            {"file": SimpleUploadedFile("data.csv", content)},
            format="multipart",
        )
    assert_quota(response, "MAX_SHEETS_PER_WORKSPACE", 1)
    assert not ImportJob.objects.filter(workspace=workspace).exists()
