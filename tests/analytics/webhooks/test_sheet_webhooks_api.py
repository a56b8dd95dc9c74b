"""REST of a sheet's webhooks: owners and admins manage them, editors and viewers are refused
(403), another workspace sees nothing (404); the secret is shown once; bad input is a clear 400
with nothing saved."""

import pytest

from accounts.models import Role
from analytics.models import Webhook
from tests.factories import WorkspaceFactory, make_sheet, member

from .conftest import hooks_url

pytestmark = pytest.mark.django_db


def test_an_admin_adds_lists_changes_and_removes_a_webhook(api, workspace, sheet, receiver):
    admin = member(workspace, Role.ADMIN)
    hook = receiver()
    created = api(admin).post(
        hooks_url(sheet), {"url": hook.url, "events": ["rows.updated"], "columns": ["c2"]}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"] == hook.url and body["events"] == ["rows.updated"] and body["columns"] == ["c2"]
    assert body["active"] is True and len(body["secret"]) == 64 and body["created_by"]
    stored = Webhook.objects.get(pk=body["id"])
    assert (stored.sheet_id, stored.rule_id, stored.workspace_id) == (sheet.pk, None, workspace.pk)

    listed = api(admin).get(hooks_url(sheet)).json()
    assert [w["id"] for w in listed] == [body["id"]] and listed[0]["secret"] is None

    changed = api(admin).patch(f"{hooks_url(sheet)}{body['id']}/", {"active": False, "columns": []}, format="json")
    assert changed.status_code == 200 and changed.json()["active"] is False and changed.json()["columns"] == []
    assert changed.json()["secret"] is None
    rotated = api(admin).patch(f"{hooks_url(sheet)}{body['id']}/", {"rotate_secret": True}, format="json").json()
    assert len(rotated["secret"]) == 64 and rotated["secret"] != body["secret"]
    assert Webhook.objects.get(pk=body["id"]).secret == rotated["secret"]

    assert api(admin).delete(f"{hooks_url(sheet)}{body['id']}/").status_code == 204
    assert not Webhook.objects.filter(pk=body["id"]).exists()


def test_the_events_default_to_all_three(add_webhook, sheet, receiver):
    assert add_webhook(sheet, url=receiver().url)["events"] == ["rows.inserted", "rows.updated", "rows.deleted"]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_cannot_see_or_manage_webhooks(api, workspace, sheet, add_webhook, receiver, role):
    hook = add_webhook(sheet, url=receiver().url)
    person = member(workspace, role)
    one = f"{hooks_url(sheet)}{hook['id']}/"
    assert api(person).get(hooks_url(sheet)).status_code == 403
    assert api(person).post(hooks_url(sheet), {"url": receiver().url}, format="json").status_code == 403
    assert api(person).get(one).status_code == 403
    assert api(person).patch(one, {"rotate_secret": True}, format="json").status_code == 403
    assert api(person).delete(one).status_code == 403
    assert api(person).get(f"{one}deliveries/").status_code == 403
    assert Webhook.objects.filter(sheet=sheet).count() == 1
    assert Webhook.objects.get(pk=hook["id"]).secret == hook["secret"]


def test_another_workspace_gets_404_for_the_sheet_and_its_webhooks(api, sheet, add_webhook, receiver):
    hook = add_webhook(sheet, url=receiver().url)
    stranger_space = WorkspaceFactory()
    stranger = member(stranger_space, Role.OWNER)
    one = f"{hooks_url(sheet)}{hook['id']}/"
    assert api(stranger).get(hooks_url(sheet)).status_code == 404
    assert api(stranger).post(hooks_url(sheet), {"url": receiver().url}, format="json").status_code == 404
    for answer in (api(stranger).get(one), api(stranger).delete(one), api(stranger).get(f"{one}deliveries/")):
        assert answer.status_code == 404
    # A webhook of another sheet is not found through this one, even by its owner.
    other = make_sheet(stranger_space, stranger, name="Theirs")
    assert api(stranger).get(f"{hooks_url(other)}{hook['id']}/").status_code == 404
    assert api(stranger).delete(f"{hooks_url(other)}{hook['id']}/").status_code == 404
    assert Webhook.objects.filter(pk=hook["id"]).exists()


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://example.com/hook", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("not a url", "spaces"),
        ("", "may not be blank"),
        ("https://user:pw@example.com/", "user name or password"),
    ],
)
def test_a_url_that_is_not_http_is_a_clear_400_and_nothing_is_saved(api, owner, sheet, url, words):
    answer = api(owner).post(hooks_url(sheet), {"url": url}, format="json")
    assert answer.status_code == 400
    assert words in str(answer.json())
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"events": []}, "empty"),
        ({"events": ["rows.exploded"]}, "not a valid choice"),
        ({"events": "rows.updated"}, "list"),
        ({"columns": ["c99"]}, "no column c99"),
        ({"columns": "c1"}, "list"),
        ({"columns": [{"a": 1}]}, "valid string"),
        ({"active": "maybe"}, "boolean"),
    ],
)
def test_bad_events_or_columns_are_a_clear_400_and_nothing_is_saved(api, owner, sheet, receiver, fields, words):
    answer = api(owner).post(hooks_url(sheet), {"url": receiver().url, **fields}, format="json")
    assert answer.status_code == 400, answer.content
    assert words in str(answer.json())
    assert not Webhook.objects.exists()


def test_a_bad_change_leaves_the_webhook_as_it_was(api, owner, sheet, add_webhook, receiver):
    hook = add_webhook(sheet, url=receiver().url, columns=["c1"])
    one = f"{hooks_url(sheet)}{hook['id']}/"
    answer = api(owner).patch(one, {"url": "gopher://x", "events": ["rows.updated"]}, format="json")
    assert answer.status_code == 400
    answer = api(owner).patch(one, {"events": ["rows.updated"], "columns": ["c1", "nope"]}, format="json")
    assert answer.status_code == 400 and "no column nope" in str(answer.json())
    stored = Webhook.objects.get(pk=hook["id"])
    assert (stored.url, stored.events, stored.columns) == (hook["url"], hook["events"], ["c1"])


def test_a_sheet_has_at_most_the_configured_number_of_webhooks(api, owner, sheet, receiver, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_WEBHOOKS_PER_SHEET": 2}
    url = receiver().url
    for _ in range(2):
        assert api(owner).post(hooks_url(sheet), {"url": url}, format="json").status_code == 201
    answer = api(owner).post(hooks_url(sheet), {"url": url}, format="json")
    assert answer.status_code == 400 and "at most 2 webhooks per sheet" in str(answer.json())
    assert Webhook.objects.filter(sheet=sheet).count() == 2


def test_paging_parameters_of_the_delivery_log_are_checked(api, owner, sheet, add_webhook, receiver):
    hook = add_webhook(sheet, url=receiver().url)
    url = f"{hooks_url(sheet)}{hook['id']}/deliveries/"
    assert api(owner).get(url).json() == {"results": [], "next": None}
    for query in ("?limit=0", "?limit=100000", "?before=x", "?before=-1"):
        assert api(owner).get(url + query).status_code == 400
