"""Inviting a colleague, in a real browser: the owner invites from the members page, the e-mail's
link leads the newcomer through sign-up, and they land in the workspace with the role."""

import re

import pytest

from accounts.models import Membership, Role
from tests.factories import member

from .conftest import screenshot, sent_mail

pytestmark = pytest.mark.django_db(transaction=True)


def test_invite_by_e_mail_then_sign_up_with_the_link_and_land_in_the_workspace(open_as, workspace):
    owner = member(workspace, Role.OWNER)
    page = open_as(owner, f"/workspaces/{workspace.pk}/members/")
    page.fill("#invite-email", "grace@example.com")
    page.select_option("#invite-role", "editor")
    page.click("form.invite-form button[type=submit]")
    page.wait_for_selector("text=Invitation sent to grace@example.com.")
    assert page.locator("[data-testid=invitations] tr[data-email='grace@example.com']").count() == 1
    screenshot(page, "members")

    message = next(text for text in sent_mail() if "grace@example.com" in text)
    link = re.search(r"https?://[^/\s]+(/invitations/gci_\S+/)", message).group(1)
    newcomer = open_as(None, link)
    newcomer.wait_for_url("**/accounts/login/**")
    newcomer.click("a[href*='/accounts/signup/']")
    newcomer.fill("input[name=email]", "grace@example.com")
    newcomer.fill("input[name=password1]", "a long enough pass phrase")
    if newcomer.locator("input[name=password2]").count():
        newcomer.fill("input[name=password2]", "a long enough pass phrase")
    newcomer.click("form button[type=submit]")
    newcomer.wait_for_url(lambda url: url.endswith("/"))
    newcomer.wait_for_selector(f"[data-workspace-id='{workspace.pk}']")
    assert Membership.objects.get(workspace=workspace, user__email="grace@example.com").role == Role.EDITOR
