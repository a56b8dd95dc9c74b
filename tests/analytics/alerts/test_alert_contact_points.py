"""An alert rule's contact points through the REST API: e-mail to members on or off, webhooks added,
changed, removed and their secrets renewed in the rule's representation (a secret shown only when
made), validated (http(s) on public addresses, at most GRIDCAST["MAX_WEBHOOKS_PER_RULE"], ids of the
rule) with a 400 naming the field and nothing half applied; editors write, viewers read without
URLs or secrets, another workspace gets 404."""

import pytest

from accounts.models import AuditEvent
from analytics.models import AlertRule, Delivery, Webhook
from tests.factories import WorkspaceFactory

from .test_alerts import RULE, alerts_url

pytestmark = pytest.mark.django_db
PUBLIC = "https://8.8.8.8/hooks/abc?token=s3cr3t"


def rule_url(workspace, rule_id):
    return f"{alerts_url(workspace)}{rule_id}/"


def create(api, user, workspace, **fields):
    return api(user).post(alerts_url(workspace), {**RULE, **fields}, format="json")


def test_webhooks_are_added_kept_renewed_and_removed(workspace, editor, viewer, api):
    answer = create(
        api, editor, workspace, email_members=True, webhooks=[{"url": PUBLIC}, {"url": PUBLIC, "format": "slack"}]
    )
    assert answer.status_code == 201, answer.content
    rule = answer.json()
    assert rule["email_members"] is True
    first, second = rule["webhooks"]
    assert (first["url"], first["format"], second["format"]) == (PUBLIC, "json", "slack")
    assert len(first["secret"]) == 64
    stored = Webhook.objects.get(pk=first["id"])
    assert stored.secret == first["secret"] and stored.workspace_id == workspace.pk

    shown = api(editor).get(rule_url(workspace, rule["id"])).json()
    assert [w["url"] for w in shown["webhooks"]] == [PUBLIC, PUBLIC]
    assert [w["secret"] for w in shown["webhooks"]] == [None, None]  # shown once
    seen_by_viewer = api(viewer).get(alerts_url(workspace)).json()[0]["webhooks"]
    assert [w["url"] for w in seen_by_viewer] == ["https://8.8.8.8/…"] * 2  # the URL may be a credential
    assert "s3cr3t" not in str(seen_by_viewer)

    changed = api(editor).patch(
        rule_url(workspace, rule["id"]),
        {"email_members": False, "webhooks": [{"id": first["id"], "rotate_secret": True, "format": "slack"}]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    (kept,) = changed.json()["webhooks"]
    assert kept["id"] == first["id"] and kept["format"] == "slack" and kept["url"] == PUBLIC
    assert kept["secret"] != first["secret"] and Webhook.objects.get(pk=first["id"]).secret == kept["secret"]
    assert not Webhook.objects.filter(pk=second["id"]).exists()
    assert changed.json()["email_members"] is False
    untouched = api(editor).patch(rule_url(workspace, rule["id"]), {"name": "Renamed"}, format="json").json()
    assert [w["id"] for w in untouched["webhooks"]] == [first["id"]] and untouched["webhooks"][0]["secret"] is None
    assert AuditEvent.objects.filter(kind="alert_rule.changed", details__fields__contains=["webhooks"]).exists()


@pytest.mark.parametrize(
    "webhooks, field",
    [
        ([{"url": "ftp://8.8.8.8/x"}], "only http:// and https://"),
        ([{"url": "javascript:alert(1)"}], "only http:// and https://"),
        ([{"url": "http://10.0.0.1/"}], "only public addresses"),
        ([{"url": "http://169.254.169.254/latest/meta-data/"}], "only public addresses"),
        ([{"url": "http://[::1]/"}], "only public addresses"),
        ([{"url": "http://0.0.0.0/"}], "only public addresses"),
        ([{"url": "http://localhost:8000/"}], "only public addresses"),
        ([{"url": "https://8.8.8.8/" + "x" * 2000}], "no more than 2000"),
        ([{"url": PUBLIC, "format": "xml"}], "not a valid choice"),
        ([{"format": "json"}], "a new webhook needs a url"),
        ([{"url": PUBLIC, "rotate_secret": True}], "gets its secret anyway"),
        ([{"url": PUBLIC}] * 11, "no more than 10"),
        ({"url": PUBLIC}, "list"),
    ],
)
def test_bad_webhooks_are_refused_with_the_field_and_nothing_is_created(workspace, editor, api, webhooks, field):
    answer = create(api, editor, workspace, webhooks=webhooks)
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["code"] == "invalid" and "webhooks" in error["fields"]
    assert field in str(error["fields"]["webhooks"]) and error["message"].startswith("webhooks:")
    assert not AlertRule.objects.exists() and not Webhook.objects.exists()


def test_a_bad_change_of_webhooks_changes_nothing(workspace, editor, api):
    rule = create(api, editor, workspace, webhooks=[{"url": PUBLIC}]).json()
    other = create(api, editor, workspace, webhooks=[{"url": PUBLIC}]).json()
    for webhooks, message in (
        ([{"id": other["webhooks"][0]["id"]}], "this rule has no webhook"),  # another rule's
        ([{"id": 10**9}], "this rule has no webhook"),
        ([{"id": rule["webhooks"][0]["id"]}, {"id": rule["webhooks"][0]["id"]}], "listed twice"),
        ([{"url": "http://192.168.0.1/"}], "only public addresses"),
    ):
        answer = api(editor).patch(
            rule_url(workspace, rule["id"]), {"name": "Changed", "threshold": 9, "webhooks": webhooks}, format="json"
        )
        assert answer.status_code == 400, answer.content
        assert message in answer.json()["error"]["message"]
    stored = AlertRule.objects.get(pk=rule["id"])
    assert (stored.name, stored.threshold) == (RULE["name"], RULE["threshold"])
    assert list(stored.webhooks.values_list("pk", flat=True)) == [rule["webhooks"][0]["id"]]
    assert Webhook.objects.count() == 2


def test_the_limit_of_webhooks_per_rule_is_a_setting(workspace, editor, api, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_WEBHOOKS_PER_RULE": 2}
    answer = create(api, editor, workspace, webhooks=[{"url": PUBLIC}] * 3)
    assert answer.status_code == 400 and "no more than 2" in answer.json()["error"]["message"]
    assert create(api, editor, workspace, webhooks=[{"url": PUBLIC}] * 2).status_code == 201


def test_viewers_cannot_add_contact_points(workspace, editor, viewer, api):
    rule = create(api, editor, workspace).json()
    for body in ({"webhooks": [{"url": PUBLIC}]}, {"email_members": True}):
        answer = api(viewer).patch(rule_url(workspace, rule["id"]), body, format="json")
        assert answer.status_code == 403
    assert create(api, viewer, workspace, webhooks=[{"url": PUBLIC}]).status_code == 403
    assert not Webhook.objects.exists() and not AlertRule.objects.get().email_members


def test_another_workspace_gets_404(workspace, editor, outsider, api):
    rule = create(api, editor, workspace, webhooks=[{"url": PUBLIC}]).json()
    Delivery.objects.create(
        workspace=workspace, rule_id=rule["id"], channel="webhook", target=PUBLIC, event="fired", payload={}
    )
    stranger_workspace = WorkspaceFactory()
    deliveries = f"{rule_url(workspace, rule['id'])}deliveries/"
    assert api(outsider).get(deliveries).status_code == 404
    assert api(outsider).patch(rule_url(workspace, rule["id"]), {"webhooks": []}, format="json").status_code == 404
    assert api(editor).get(f"{alerts_url(stranger_workspace)}{rule['id']}/deliveries/").status_code == 404
    assert Webhook.objects.count() == 1


def test_the_delivery_log_pages_newest_first(workspace, editor, viewer, api):
    rule = create(api, editor, workspace).json()
    Delivery.objects.bulk_create(
        Delivery(
            workspace=workspace, rule_id=rule["id"], channel="email", target=f"{i}@x.test", event="fired", payload={}
        )
        for i in range(5)
    )
    url = f"{rule_url(workspace, rule['id'])}deliveries/"
    first = api(viewer).get(url, {"limit": 2}).json()
    assert [d["target"] for d in first["results"]] == ["4@x.test", "3@x.test"]
    rest = api(viewer).get(url, {"limit": 5, "before": first["next"]}).json()
    assert [d["target"] for d in rest["results"]] == ["2@x.test", "1@x.test", "0@x.test"] and rest["next"] is None
    assert api(viewer).get(url, {"limit": 0}).status_code == 400
