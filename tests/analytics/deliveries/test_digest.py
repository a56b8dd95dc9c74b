"""Notifications by e-mail are batched (analytics.deliveries.digest): one e-mail per person gathers
what came within a minute; nothing goes before the oldest has waited that minute; each person gets
their own; a person gone inactive gets none; the worker runs it."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from accounts import notification_preferences
from analytics.deliveries import digest
from analytics.models import QueuedEmail
from sheets import services
from sheets.models import Row

pytestmark = pytest.mark.django_db


def mention(api, author, sheet, row, people, body):
    answer = api(author).post(
        f"/api/v1/sheets/{sheet.pk}/comments/",
        {"row": row, "col": "c1", "body": body, "mentions": [p.pk for p in people]},
        format="json",
    )
    assert answer.status_code == 201, answer.content


def test_two_mentions_within_a_minute_are_one_e_mail(api, sheet, owner, editor, viewer):
    notification_preferences.preferences_set(user=viewer, changes={"mention": "email"})
    services.rows_insert(sheet=sheet, actor=owner, count=1)
    row = Row.objects.get(sheet=sheet).pk
    mention(api, editor, sheet, row, [viewer, owner], "first <b>look</b>")
    mention(api, owner, sheet, row, [viewer], "second")
    start = timezone.now()

    assert digest.send_due(now=start + dt.timedelta(seconds=30)) == 0  # the minute is not over
    assert mail.outbox == []
    assert digest.send_due(now=start + dt.timedelta(seconds=61)) == 2  # the viewer's, the owner's
    [to_viewer] = [m for m in mail.outbox if m.to == [viewer.email]]
    assert to_viewer.subject == "Gridcast: 2 notifications"
    assert "mentioned you on Orders: “first <b>look</b>”" in to_viewer.body and "“second”" in to_viewer.body
    assert f"http://127.0.0.1:8000/sheets/{sheet.pk}/?comment=" in to_viewer.body
    [to_owner] = [m for m in mail.outbox if m.to == [owner.email]]
    assert to_owner.subject.startswith(f"Gridcast: {editor.label} mentioned you")
    assert not QueuedEmail.objects.exists()

    mention(api, editor, sheet, row, [viewer], "third, later")
    assert digest.send_due(now=timezone.now() + dt.timedelta(seconds=61)) == 1
    assert len(mail.outbox) == 3 and "third, later" in mail.outbox[-1].body


def test_a_claimed_batch_is_not_sent_twice_and_an_inactive_person_gets_nothing(owner, editor):
    old = timezone.now() - dt.timedelta(minutes=5)
    digest.enqueue(user_ids=[owner.pk, editor.pk], kind="mention", text="x", link="/sheets/1/")
    QueuedEmail.objects.update(created_at=old)
    editor.is_active = False
    editor.save()
    claimed = digest._claim(owner.pk, timezone.now())
    assert len(claimed) == 1
    assert digest.send_due() == 0  # the owner's is leased to another sender; the editor is inactive
    assert mail.outbox == [] and QueuedEmail.objects.filter(user=owner).count() == 1
    assert not QueuedEmail.objects.filter(user=editor).exists()
    assert digest.send_due(now=timezone.now() + digest.LEASE + dt.timedelta(seconds=1)) == 1  # the lease ended
    assert [m.to for m in mail.outbox] == [[owner.email]]
