"""Sharing a sheet by e-mail (sheets.sharing): the address is told by e-mail with the sheet's link,
whether or not it has an account, and signing up or logging in with it opens the sheet."""

import re

import pytest
from django.core import mail

from ..factories import user

pytestmark = pytest.mark.django_db


def share(api, owner, sheet, email, level):
    return api(owner).post(f"/api/v1/sheets/{sheet.pk}/share/", {"email": email, "level": level}, format="json")


def test_a_share_is_e_mailed_with_the_sheets_link_and_the_link_opens_it_after_sign_up(
    api, client, owner, sheet, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert share(api, owner, sheet, "reader@example.com", "view").status_code == 202
    [message] = mail.outbox
    assert message.to == ["reader@example.com"] and sheet.name in message.subject and "you can view it" in message.body
    link = re.search(r"http://testserver(/sheets/\d+/)", message.body).group(1)
    assert link == f"/sheets/{sheet.pk}/"
    assert client.get(link)["Location"].startswith("/accounts/login/")
    client.force_login(user(email="reader@example.com"))  # signing up: the waiting share is claimed
    assert client.get(link).status_code == 200


def test_the_e_mail_does_not_depend_on_an_account_and_unsharing_sends_none(
    api, owner, sheet, django_capture_on_commit_callbacks
):
    user(email="has.account@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        share(api, owner, sheet, "has.account@example.com", "edit")
        share(api, owner, sheet, "no.account@example.com", "edit")
        share(api, owner, sheet, "no.account@example.com", None)
    assert [m.to for m in mail.outbox] == [["has.account@example.com"], ["no.account@example.com"]]
    assert all("you can edit it" in m.body for m in mail.outbox)
