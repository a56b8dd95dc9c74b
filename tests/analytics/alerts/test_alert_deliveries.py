"""An alert rule's contact points get its firings and recoveries: a real HTTP receiver on loopback
(allowed by GRIDCAST["OUTBOUND_ALLOW"]) gets signed JSON and Slack messages, members get e-mails
(locmem outbox); a failing receiver is retried with backoff (time driven by `now`), the log shows
each attempt, and pending deliveries survive a worker that died mid-attempt."""

import datetime as dt
import hashlib
import hmac
import json
import threading
import time

import pytest
from django.core import mail

from analytics.alerts import evaluation
from analytics.deliveries import queue, sender
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule, Delivery, Webhook
from analytics.writethrough import worker as wt_worker
from tests.analytics.metric_helpers import token_client
from tests.factories import member

from .test_alerts import ORDERS_BELOW, RULE, alerts_url, send

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


def create_rule(api, workspace, editor, **contacts):
    answer = api(editor).post(alerts_url(workspace), {**RULE, **contacts}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def fire(editor, workspace, capture):
    with capture(execute=True):
        send(token_client(editor, workspace), 0.3)  # avg 0.3 > 0.05: fires


def recover(rule_id, capture):
    with capture(execute=True):
        evaluation.rule_evaluate(rule_id=rule_id, now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120))


def signed(request, secret):
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["X-Gridcast-Signature"], expected)


def test_firing_and_recovery_reach_every_contact_point_signed(
    workspace, editor, viewer, api, receiver, django_capture_on_commit_callbacks
):
    hook, slack = receiver(), receiver()
    rule = create_rule(
        api,
        workspace,
        editor,
        email_members=True,
        webhooks=[{"url": hook.url, "format": "json"}, {"url": slack.url, "format": "slack"}],
    )
    secrets = {w["format"]: w["secret"] for w in rule["webhooks"]}
    assert len(secrets["json"]) == 64 and secrets["json"] != secrets["slack"]

    fire(editor, workspace, django_capture_on_commit_callbacks)
    assert Delivery.objects.filter(rule_id=rule["id"], status="pending").count() == 4  # 2 webhooks, 2 members
    assert hook.requests == []  # queued, not sent inside the evaluation
    assert sender.send_due() == 4
    assert len(hook.requests) == 1 and len(slack.requests) == 1
    fired = hook.requests[0]
    assert signed(fired, secrets["json"])
    assert not signed(fired, secrets["slack"])
    body = json.loads(fired["body"])
    assert body["event"] == "fired" and body["state"] == "firing"
    assert body["rule"] == {"id": rule["id"], "name": RULE["name"], "condition": "avg(error_rate) over 60s > 0.05"}
    assert body["value"] == pytest.approx(0.3)
    assert body["workspace"]["id"] == workspace.pk
    assert body["url"].endswith(f"/workspaces/{workspace.pk}/dashboard/")
    assert fired["headers"]["X-Gridcast-Event"] == "fired"
    assert fired["headers"]["Content-Type"] == "application/json"
    assert abs(int(fired["headers"]["X-Gridcast-Timestamp"]) - time.time()) < 60
    text = json.loads(slack.requests[0]["body"])["text"]
    assert "Alert fired: Errors above 5 %" in text and "0.3" in text
    assert sorted(m.to[0] for m in mail.outbox) == sorted([editor.email, viewer.email])
    assert mail.outbox[0].subject == "[Gridcast] Alert fired: Errors above 5 %"
    assert "Value: 0.3" in mail.outbox[0].body and f"/workspaces/{workspace.pk}/dashboard/" in mail.outbox[0].body

    recover(rule["id"], django_capture_on_commit_callbacks)
    assert sender.send_due() == 4
    recovered = hook.requests[1]
    assert signed(recovered, secrets["json"])
    assert json.loads(recovered["body"])["event"] == "recovered"
    assert json.loads(recovered["body"])["value"] is None  # the window emptied
    assert recovered["headers"]["X-Gridcast-Delivery"] != fired["headers"]["X-Gridcast-Delivery"]
    assert "Alert recovered" in json.loads(slack.requests[1]["body"])["text"]
    assert [m.subject for m in mail.outbox[2:]] == ["[Gridcast] Alert recovered: Errors above 5 %"] * 2

    log = api(viewer).get(f"{alerts_url(workspace)}{rule['id']}/deliveries/").json()["results"]
    assert len(log) == 8 and {d["status"] for d in log} == {"delivered"}
    assert [d["event"] for d in log][:4] == ["recovered"] * 4
    webhook_entries = [d for d in log if d["channel"] == "webhook"]
    assert {d["status_code"] for d in webhook_entries} == {200}
    assert all(d["target"].endswith("/…") and "/hook" not in d["target"] for d in webhook_entries)  # viewers
    assert "secret" not in json.dumps(log)


def test_a_failing_receiver_is_retried_with_backoff_and_logged(
    workspace, editor, api, receiver, django_capture_on_commit_callbacks
):
    hook = receiver(500, 500, 200)
    rule = create_rule(api, workspace, editor, webhooks=[{"url": hook.url}])
    fire(editor, workspace, django_capture_on_commit_callbacks)
    start = dt.datetime.now(dt.UTC)
    delivery = Delivery.objects.get(rule_id=rule["id"])

    assert sender.send_due(now=start) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("pending", 1, 500)
    assert delivery.error == "answered 500" and delivery.response == "answer 1: 500"
    assert delivery.next_attempt_at == start + dt.timedelta(seconds=10)
    assert sender.send_due(now=start + dt.timedelta(seconds=9)) == 0  # not due yet
    assert sender.send_due(now=start + dt.timedelta(seconds=10)) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at == start + dt.timedelta(seconds=70)
    assert sender.send_due(now=start + dt.timedelta(seconds=69)) == 0
    assert sender.send_due(now=start + dt.timedelta(seconds=70)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("delivered", 3, 200)
    assert delivery.delivered_at == start + dt.timedelta(seconds=70) and delivery.next_attempt_at is None
    assert len({r["headers"]["X-Gridcast-Delivery"] for r in hook.requests}) == 1  # the same delivery, 3 times
    assert len({r["body"] for r in hook.requests}) == 1

    entry = api(editor).get(f"{alerts_url(workspace)}{rule['id']}/deliveries/").json()["results"][0]
    assert (entry["status"], entry["attempts"], entry["status_code"], entry["target"]) == (
        "delivered",
        3,
        200,
        hook.url,
    )


def test_a_receiver_that_never_answers_well_fails_after_the_last_attempt(
    workspace, editor, api, receiver, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS = {**settings.ANALYTICS, "DELIVERY_RETRY_SECONDS": [10, 60]}
    hook = receiver(503)
    rule = create_rule(api, workspace, editor, webhooks=[{"url": hook.url}])
    fire(editor, workspace, django_capture_on_commit_callbacks)
    moment = dt.datetime.now(dt.UTC)
    for wait in (0, 10, 60, 3600):
        moment += dt.timedelta(seconds=wait)
        sender.send_due(now=moment)
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(hook.requests) == 3


def test_redirects_are_not_followed(workspace, editor, api, receiver, django_capture_on_commit_callbacks):
    target = receiver()
    hook = receiver(302, headers={"Location": target.url})
    rule = create_rule(api, workspace, editor, webhooks=[{"url": hook.url}])
    fire(editor, workspace, django_capture_on_commit_callbacks)
    sender.send_due()
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert (delivery.status, delivery.status_code, delivery.error) == ("pending", 302, "answered 302")
    assert target.requests == []


def test_the_address_is_checked_again_when_sending(
    workspace, editor, api, receiver, settings, django_capture_on_commit_callbacks
):
    hook = receiver()
    rule = create_rule(api, workspace, editor, webhooks=[{"url": hook.url}])
    fire(editor, workspace, django_capture_on_commit_callbacks)
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": []}  # the operator took the exception back
    sender.send_due()
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert delivery.status == "failed" and "loopback" in delivery.error  # refused: not retried
    assert hook.requests == []


def test_a_removed_webhook_fails_its_pending_deliveries(
    workspace, editor, api, receiver, django_capture_on_commit_callbacks
):
    hook = receiver()
    rule = create_rule(api, workspace, editor, webhooks=[{"url": hook.url}])
    fire(editor, workspace, django_capture_on_commit_callbacks)
    api(editor).patch(f"{alerts_url(workspace)}{rule['id']}/", {"webhooks": []}, format="json")
    sender.send_due()
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert (delivery.status, delivery.error) == ("failed", "the webhook was removed")
    assert hook.requests == []


def test_only_active_members_are_emailed(workspace, editor, api, django_capture_on_commit_callbacks):
    gone = member(workspace, email="gone@example.com", is_active=False)
    create_rule(api, workspace, editor, email_members=True)
    fire(editor, workspace, django_capture_on_commit_callbacks)
    sender.send_due()
    assert [m.to for m in mail.outbox] == [[editor.email]]
    assert not Delivery.objects.filter(target=gone.email).exists()


def test_rules_without_contact_points_queue_nothing(workspace, editor, api, django_capture_on_commit_callbacks):
    create_rule(api, workspace, editor)
    fire(editor, workspace, django_capture_on_commit_callbacks)
    assert AlertRule.objects.get().state == "firing"
    assert not Delivery.objects.exists() and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_the_worker_resumes_what_was_pending_when_it_died(workspace, editor, receiver, settings):
    settings.ANALYTICS = {**settings.ANALYTICS, "DELIVERY_TIMEOUT": 0.2}  # a lease of a few seconds
    hook = receiver()
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    webhook = Webhook.objects.create(workspace=workspace, rule=rule, url=hook.url)
    queue.enqueue(
        [
            Delivery(
                workspace=workspace,
                rule=rule,
                webhook=webhook,
                channel="webhook",
                target=hook.url,
                event="fired",
                payload={"event": "fired"},
            )
        ]
    )
    claimed = sender._claim(dt.datetime.now(dt.UTC), 10)  # a worker took it, then died before sending
    assert len(claimed) == 1
    assert sender.send_due() == 0  # leased
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)  # the restarted worker's sender
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not Delivery.objects.filter(status="delivered").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert Delivery.objects.get().status == "delivered"
    assert len(hook.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_fires_and_its_sender_delivers(workspace, owner, receiver, settings):
    """The whole path in the worker: its periodic pass fires a rule (no orders: count 0 < 5), the
    deliveries are queued after that commit and its sender thread sends them (woken at once)."""
    settings.ANALYTICS = {**settings.ANALYTICS, "ALERT_INTERVAL": 0.2, "MAINTENANCE_SECONDS": 0}
    hook = receiver()
    rule = AlertRule.objects.create(workspace=workspace, email_members=True, **ORDERS_BELOW)
    webhook = Webhook.objects.create(workspace=workspace, rule=rule, url=hook.url)
    stop = threading.Event()
    worker = threading.Thread(target=wt_worker.run, args=(stop,), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Delivery.objects.filter(status="delivered").count() < 2:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert len(hook.requests) == 1 and signed(hook.requests[0], webhook.secret)
    assert json.loads(hook.requests[0]["body"])["event"] == "fired"
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_delivery_that_cannot_be_prepared_fails_alone(workspace, editor, api, receiver):
    hook = receiver()
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    common = {"workspace": workspace, "rule": rule, "event": "fired"}
    queue.enqueue(
        [
            Delivery(channel="email", target="a@example.com", payload=["not", "an", "object"], **common),
            Delivery(
                channel="webhook",
                webhook=Webhook.objects.create(workspace=workspace, rule=rule, url=hook.url),
                target=hook.url,
                payload={"event": "fired"},
                **common,
            ),
        ]
    )
    assert sender.send_due() == 2
    broken, sent = Delivery.objects.order_by("id")
    assert broken.status == "failed" and "could not be prepared" in broken.error
    assert sent.status == "delivered" and len(hook.requests) == 1


def test_finished_deliveries_are_purged_after_the_retention(workspace, editor, settings):
    settings.ANALYTICS = {**settings.ANALYTICS, "DELIVERY_RETENTION_DAYS": 30}
    rule = AlertRule.objects.create(workspace=workspace, created_by=editor, **RULE)
    common = {"workspace": workspace, "rule": rule, "event": "fired", "channel": "email", "payload": {}}
    for status in ("delivered", "failed", "pending"):
        Delivery.objects.create(target=f"{status}@example.com", status=status, **common)
    now = dt.datetime.now(dt.UTC)
    assert sender.purge(now=now + dt.timedelta(days=29)) == 0
    assert sender.purge(now=now + dt.timedelta(days=31)) == 2
    assert list(Delivery.objects.values_list("status", flat=True)) == ["pending"]  # still to be sent
