"""The workspace's metric retention setting (Workspace.metric_retention_days): set by owners and admins
through the REST workspace endpoint and the Django admin, validated, recorded in the audit log, and
documented in the OpenAPI schema. (What the retention does: tests/analytics/metrics/test_retention.py.)"""

import pytest
from django.core.management import call_command

from accounts.models import METRIC_RETENTION_MAX_DAYS, METRIC_RETENTION_MIN_DAYS, AuditEvent, Role, Workspace

from ..factories import member, user

pytestmark = pytest.mark.django_db


def patch(api, who, workspace, value):
    return api(who).patch(f"/api/v1/workspaces/{workspace.pk}/", {"metric_retention_days": value}, format="json")


def test_a_new_workspace_keeps_metric_events_forever(api, owner, workspace):
    response = api(owner).get(f"/api/v1/workspaces/{workspace.pk}/")
    assert response.status_code == 200
    assert response.json()["metric_retention_days"] is None


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_set_and_clear_it(api, workspace, role):
    who = member(workspace, role)
    response = patch(api, who, workspace, 30)
    assert response.status_code == 200
    assert response.json()["metric_retention_days"] == 30
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days == 30
    event = AuditEvent.objects.get(kind="workspace.metric_retention_changed")
    assert event.details == {"days": 30, "previous": None} and event.actor == who

    response = patch(api, who, workspace, None)
    assert response.status_code == 200 and response.json()["metric_retention_days"] is None
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days is None


def test_the_bounds_are_accepted(api, owner, workspace):
    for days in (METRIC_RETENTION_MIN_DAYS, METRIC_RETENTION_MAX_DAYS):
        assert patch(api, owner, workspace, days).json()["metric_retention_days"] == days


def test_a_workspace_can_be_created_with_it(api, outsider):
    response = api(outsider).post("/api/v1/workspaces/", {"name": "Ops", "metric_retention_days": 90}, format="json")
    assert response.status_code == 201
    assert Workspace.objects.get(pk=response.json()["id"]).metric_retention_days == 90


@pytest.mark.parametrize(
    "value", [0, -1, METRIC_RETENTION_MIN_DAYS - 1, METRIC_RETENTION_MAX_DAYS + 1, 10**30, "abc", 1.5, True, [], {}]
)
def test_a_bad_value_is_refused_with_a_clear_400(api, owner, workspace, value):
    response = patch(api, owner, workspace, value)
    assert response.status_code == 400, response.content
    assert "metric_retention_days must be a whole number of days" in response.content.decode()
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days is None
    assert not AuditEvent.objects.filter(kind="workspace.metric_retention_changed").exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_cannot_change_it(api, workspace, role):
    response = patch(api, member(workspace, role), workspace, 30)
    assert response.status_code == 403
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days is None


def test_an_outsider_cannot_change_it(api, outsider, workspace):
    assert patch(api, outsider, workspace, 30).status_code in (403, 404)
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days is None


def test_the_admin_edits_it_validated_and_audited(client, workspace):
    staff = user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    url = f"/admin/accounts/workspace/{workspace.pk}/change/"
    form = {
        "name": workspace.name,
        "metric_retention_days": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert "metric_retention_days must be a whole number of days" in response.content.decode()
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days is None

    response = client.post(url, {**form, "metric_retention_days": "14"})
    assert response.status_code == 302
    assert Workspace.objects.get(pk=workspace.pk).metric_retention_days == 14
    assert AuditEvent.objects.get(kind="workspace.metric_retention_changed").details == {"days": 14, "previous": None}


def test_the_field_is_in_the_api_schema(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    text = out.read_text()
    assert "metric_retention_days:" in text
    section = text[text.index("metric_retention_days:") :][:800]
    assert "nullable: true" in section and f"maximum: {METRIC_RETENTION_MAX_DAYS}" in section
    assert f"minimum: {METRIC_RETENTION_MIN_DAYS}" in section and "rollups" in section
