"""Notification preferences (GET/PUT /api/v1/me/notification-preferences/, the account page): per
kind, in the app, by e-mail, both or none; and each notifier honours them: mentions and replies,
alerts' bell notifications, invitations (an address without an account always gets its e-mail)."""

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts import notification_preferences
from accounts.models import Invitation, NotificationPreference
from analytics.alerts import evaluation
from analytics.models import AlertRule, Notification, QueuedEmail
from sheets import services
from sheets.models import Row

from ..factories import user

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/notification-preferences/"
DEFAULTS = {"mention": "both", "reply": "in_app", "alert": "in_app", "invitation": "email"}


def test_defaults_then_a_change_of_some_kinds_keeps_the_others(api, editor, viewer):
    assert api(editor).get(URL).json() == DEFAULTS
    answer = api(editor).put(URL, {"mention": "email", "alert": "none"}, format="json")
    assert answer.status_code == 200
    assert answer.json() == {**DEFAULTS, "mention": "email", "alert": "none"}
    assert api(editor).get(URL).json() == answer.json()
    assert api(viewer).get(URL).json() == DEFAULTS  # one's own only


@pytest.mark.parametrize(
    "body,words",
    [
        ({"mention": "email", "digest": "none"}, "unknown kind 'digest'"),
        ({"mention": "email", "reply": "sms"}, "reply: the channel is one of in_app, email, both, none"),
        ({"mention": 3}, "mention: the channel"),
        ({}, "give an object"),
        (["mention"], "give an object"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(api, editor, body, words):
    answer = api(editor).put(URL, body, format="json")
    assert answer.status_code == 400 and words in answer.json()["error"]["message"]
    assert not NotificationPreference.objects.exists()


def test_anonymous_people_have_no_preferences(api):
    assert api().get(URL).status_code in (401, 403)


def test_the_account_page_shows_and_saves_them(client, editor):
    client.force_login(editor)
    page = client.get("/account/notifications/")
    assert page.status_code == 200 and b'name="mention"' in page.content
    saved = client.post("/account/notifications/", DEFAULTS | {"reply": "none"})
    assert saved.status_code == 302
    assert notification_preferences.preferences_of(editor)["reply"] == "none"
    refused = client.post("/account/notifications/", DEFAULTS | {"reply": "loud"}, follow=True)
    assert b"the channel is one of" in refused.content
    assert notification_preferences.preferences_of(editor)["reply"] == "none"


# --- notifiers honour them ------------------------------------------------------------------------


@pytest.mark.parametrize("channel,bell,emails", [("in_app", 1, 0), ("email", 0, 1), ("both", 1, 1), ("none", 0, 0)])
def test_a_mention_reaches_the_bell_and_the_e_mail_queue_as_chosen(
    api, sheet, owner, editor, viewer, channel, bell, emails
):
    notification_preferences.preferences_set(user=viewer, changes={"mention": channel})
    services.rows_insert(sheet=sheet, actor=owner, count=1)
    row = Row.objects.get(sheet=sheet).pk
    answer = api(editor).post(
        f"/api/v1/sheets/{sheet.pk}/comments/",
        {"row": row, "col": "c1", "body": "hi", "mentions": [viewer.pk]},
        format="json",
    )
    assert answer.status_code == 201
    assert Notification.objects.filter(user=viewer, kind="mention").count() == bell
    assert QueuedEmail.objects.filter(user=viewer, kind="mention").count() == emails


def test_an_alert_rings_only_those_who_want_it_in_the_app(workspace, sheet, owner, editor, viewer):
    notification_preferences.preferences_set(user=viewer, changes={"alert": "none"})
    notification_preferences.preferences_set(user=editor, changes={"alert": "email"})
    rule = AlertRule.objects.create(
        workspace=workspace,
        name="Big",
        source="sheet",
        sheet=sheet,
        column="c2",
        agg="sum",
        window_seconds=None,
        comparison=">",
        threshold=1,
    )
    with transaction.atomic():
        created = evaluation._transition(rule, 5.0, timezone.now())
    assert [n.user_id for n in created] == [owner.pk]
    assert list(QueuedEmail.objects.values_list("user_id", "kind")) == [(editor.pk, "alert")]
    assert Notification.objects.get().link == f"/workspaces/{workspace.pk}/dashboard/"


def test_the_alert_push_is_kept_from_those_who_muted_it():
    from analytics.alerts.notify import personal_notification

    pushed = {"id": None, "message": "m", "ids": {"1": 10}, "muted": [2]}
    assert personal_notification(pushed, 1)["id"] == 10
    assert personal_notification(pushed, 2) is None
    assert personal_notification(pushed, 3)["id"] is None  # no member when it fired: still told


def test_an_invitation_e_mail_follows_an_accounts_choice_and_always_reaches_an_address_without_one(
    api, owner, workspace, django_capture_on_commit_callbacks
):
    quiet = user(email="quiet@example.com")
    notification_preferences.preferences_set(user=quiet, changes={"invitation": "none"})
    with django_capture_on_commit_callbacks(execute=True):
        for email in ("quiet@example.com", "newcomer@example.com"):
            answer = api(owner).post(
                f"/api/v1/workspaces/{workspace.pk}/invitations/", {"email": email, "role": "editor"}, format="json"
            )
            assert answer.status_code == 201
    assert [m.to for m in mail.outbox] == [["newcomer@example.com"]]
    # "Sent" either way: the inviter does not learn which address has an account.
    assert all(i.sent_at is not None for i in Invitation.objects.all())


@pytest.mark.parametrize("channel,bell,emails", [("email", 0, 1), ("in_app", 1, 0), ("both", 1, 1), ("none", 0, 0)])
def test_a_sheet_shared_with_an_account_rings_its_bell_or_mails_it_as_chosen(
    api, owner, sheet, channel, bell, emails, django_capture_on_commit_callbacks
):
    reader = user(email="reader@example.com")
    notification_preferences.preferences_set(user=reader, changes={"invitation": channel})
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(owner).post(
            f"/api/v1/sheets/{sheet.pk}/share/", {"email": "reader@example.com", "level": "view"}, format="json"
        )
    assert answer.status_code == 202
    assert len(mail.outbox) == emails
    found = api(reader).get("/api/v1/notifications/").json()["results"]
    assert len(found) == bell
    if bell:
        assert found[0]["message"] == f"{owner.label} shared the sheet Orders with you: you can view it"
        assert found[0]["kind"] == "invitation" and found[0]["link"] == f"/sheets/{sheet.pk}/"
    assert not QueuedEmail.objects.exists()  # the share's own e-mail, not a digest


def test_a_member_added_directly_hears_of_it_in_the_app_when_they_chose_so(api, owner, workspace):
    quiet, told = user(email="quiet@example.com"), user(email="told@example.com")
    notification_preferences.preferences_set(user=told, changes={"invitation": "in_app"})
    for email in ("quiet@example.com", "told@example.com"):
        answer = api(owner).post(
            f"/api/v1/workspaces/{workspace.pk}/members/", {"email": email, "role": "editor"}, format="json"
        )
        assert answer.status_code == 202
    assert not Notification.objects.filter(user=quiet).exists()  # the default: e-mail only
    assert list(QueuedEmail.objects.values_list("user_id", "kind")) == [(quiet.pk, "invitation")]
    [added] = Notification.objects.filter(user=told)
    assert (
        added.kind == "invitation"
        and added.message == f"{owner.label} added you to the workspace {workspace.name} as editor"
    )
