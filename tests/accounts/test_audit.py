"""The audit log (accounts.audit): every kind recorded by the real action with its actor, workspace,
target and client IP; what a workspace's owners and admins see (and never another workspace's);
filters, pages and CSV of GET /api/v1/workspaces/<id>/audit/ and the audit page; append-only;
retention."""

import csv
import datetime as dt
import io

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from accounts import audit
from accounts.models import ApiToken, AuditEvent, Membership, Role
from sheets.models import Sheet

from ..factories import WorkspaceFactory, member, user

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"
PASSWORD = "pass-word-123"


def url(workspace, query=""):
    return f"/api/v1/workspaces/{workspace.pk}/audit/{query}"


def last(kind):
    return AuditEvent.objects.filter(kind=kind).order_by("-id").first()


def assert_event(kind, *, actor, workspace, target, ip=IP, **details):
    event = last(kind)
    assert event is not None, f"no {kind} event"
    assert (event.actor_id, event.actor_email) == ((actor.pk, actor.email) if actor else (None, event.actor_email))
    assert event.workspace_ref == (workspace.pk if workspace else None)
    assert target in event.target
    assert event.ip == ip
    for name, value in details.items():
        assert event.details[name] == value
    return event


def backdated(days, **fields):
    """An event `days` old, as an old row would be (created_at set at insert, never changed)."""
    fields.setdefault("kind", "auth.login")
    return AuditEvent.objects.create(created_at=timezone.now() - dt.timedelta(days=days), **fields)


# --- recording --------------------------------------------------------------------------------------


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        audit.record("sheet.exploded")
    assert not AuditEvent.objects.exists()


def test_public_links_created_and_revoked(api, owner, workspace, sheet):
    links = f"/api/v1/sheets/{sheet.pk}/public-links/"
    created = api(owner).post(links, {"access": "view"}, format="json", REMOTE_ADDR=IP)
    assert created.status_code == 201
    link = created.json()["id"]
    shows = f'sheet {sheet.pk} "{sheet.name}"'
    event = assert_event("public_link.created", actor=owner, workspace=workspace, target=f"link {link}", shows=shows)
    assert (event.target_type, event.target_id) == ("publiclink", str(link))
    assert created.json()["url"].rsplit("/", 2)[-2] not in str(event.target) + str(event.details)  # never the key
    assert api(owner).delete(f"{links}{link}/", REMOTE_ADDR=IP).status_code == 204
    assert_event("public_link.revoked", actor=owner, workspace=workspace, target=f"link {link}", shows=shows)
    dashboard = f"/api/v1/workspaces/{workspace.pk}/dashboard/public-links/"
    assert api(owner).post(dashboard, {"access": "view"}, format="json", REMOTE_ADDR=IP).status_code == 201
    assert_event(
        "public_link.created", actor=owner, workspace=workspace, target="dashboard link", shows="the dashboard"
    )


def test_login_logout_and_failed_login(client, workspace):
    person = member(workspace, Role.EDITOR, email="ann@example.com")
    refused = client.post("/accounts/login/", {"login": "ANN@example.com", "password": "wrong"}, REMOTE_ADDR=IP)
    assert refused.status_code == 200  # the form again, with its error
    assert_event("auth.login_failed", actor=None, workspace=None, target="ann@example.com")
    assert last("auth.login_failed").actor_email == "ann@example.com"
    response = client.post("/accounts/login/", {"login": person.email, "password": PASSWORD}, REMOTE_ADDR=IP)
    assert response.status_code == 302
    assert_event("auth.login", actor=person, workspace=None, target=person.email)
    client.post("/accounts/logout/", REMOTE_ADDR=IP)
    assert_event("auth.logout", actor=person, workspace=None, target=person.email)


def test_behind_a_trusted_proxy_the_ip_is_the_forwarded_one(client, workspace):
    member(workspace, Role.EDITOR, email="bob@example.com")
    with override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1):
        client.post(
            "/accounts/login/",
            {"login": "bob@example.com", "password": PASSWORD},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"{IP}",
        )
    assert last("auth.login").ip == IP


@pytest.mark.skipif(
    not apps.is_installed("allauth.mfa"), reason="allauth.mfa is not installed yet (issue 15's MFA part)"
)
def test_mfa_changes_are_recorded_from_allauths_signals(rf, workspace):
    from allauth.mfa import signals
    from allauth.mfa.models import Authenticator

    person = member(workspace, Role.EDITOR)
    authenticator = Authenticator.objects.create(user=person, type=Authenticator.Type.TOTP, data={})
    request = rf.post("/accounts/2fa/", REMOTE_ADDR=IP)
    request.user = person
    for signal, kind in [
        (signals.authenticator_added, "mfa.added"),
        (signals.authenticator_reset, "mfa.reset"),
        (signals.authenticator_removed, "mfa.removed"),
    ]:
        signal.send(sender=Authenticator, request=request, user=person, authenticator=authenticator)
        assert_event(kind, actor=person, workspace=None, target=person.email, method="totp")


def test_invitations_sent_resent_revoked_and_accepted(
    client, api, owner, workspace, django_capture_on_commit_callbacks
):
    base = f"/api/v1/workspaces/{workspace.pk}/invitations/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(base, {"email": "new@example.com", "role": "editor"}, format="json", REMOTE_ADDR=IP)
    assert response.status_code == 201
    assert_event("invitation.sent", actor=owner, workspace=workspace, target="new@example.com", role="editor")
    invitation_id = response.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        api(owner).post(f"{base}{invitation_id}/resend/", REMOTE_ADDR=IP)
    assert_event("invitation.sent", actor=owner, workspace=workspace, target="new@example.com", resent=True)

    link = mail.outbox[-1].body.split("http://testserver", 1)[1].split()[0]
    newcomer = user(email="new@example.com")
    # Logging in with the invited address accepts it (the link then says so).
    client.post("/accounts/login/", {"login": newcomer.email, "password": PASSWORD}, REMOTE_ADDR=IP)
    assert client.get(link).status_code == 302
    assert AuditEvent.objects.filter(kind="invitation.accepted").count() == 1
    assert_event("invitation.accepted", actor=newcomer, workspace=workspace, target="new@example.com", role="editor")

    other = api(owner).post(base, {"email": "gone@example.com", "role": "viewer"}, format="json").json()["id"]
    assert api(owner).delete(f"{base}{other}/", REMOTE_ADDR=IP).status_code == 204
    assert_event("invitation.revoked", actor=owner, workspace=workspace, target="gone@example.com")


def test_members_added_role_changed_and_removed(api, owner, workspace):
    person = user(email="carol@example.com")
    base = f"/api/v1/workspaces/{workspace.pk}/members/"
    added = api(owner).post(base, {"email": person.email, "role": "viewer"}, format="json", REMOTE_ADDR=IP)
    assert added.status_code == 202
    assert_event("member.added", actor=owner, workspace=workspace, target=person.email, role="viewer")
    api(owner).patch(f"{base}{person.pk}/", {"role": "editor"}, format="json", REMOTE_ADDR=IP)
    assert_event(
        "member.role_changed", actor=owner, workspace=workspace, target=person.email, role="editor", previous="viewer"
    )
    api(owner).patch(f"{base}{person.pk}/", {"role": "editor"}, format="json", REMOTE_ADDR=IP)
    assert AuditEvent.objects.filter(kind="member.role_changed").count() == 1  # the same role is no change
    assert api(owner).delete(f"{base}{person.pk}/", REMOTE_ADDR=IP).status_code == 204
    assert_event("member.removed", actor=owner, workspace=workspace, target=person.email, role="editor")


def test_a_refused_change_records_nothing(api, workspace):
    admin = member(workspace, Role.ADMIN)
    owner = member(workspace, Role.OWNER)
    response = api(admin).delete(f"/api/v1/workspaces/{workspace.pk}/members/{owner.pk}/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(kind="member.removed").exists()


def test_members_page_actions_are_recorded_too(client, owner, workspace):
    person = member(workspace, Role.VIEWER)
    client.force_login(owner)
    client.post(
        f"/workspaces/{workspace.pk}/members/", {"action": "role", "user": person.pk, "role": "admin"}, REMOTE_ADDR=IP
    )
    assert_event("member.role_changed", actor=owner, workspace=workspace, target=person.email, role="admin")


def test_sharing_and_unsharing_a_sheet(api, owner, workspace, sheet):
    person = user(email="dan@example.com")
    share = f"/api/v1/sheets/{sheet.pk}/share/"
    api(owner).post(share, {"email": person.email, "level": "edit"}, format="json", REMOTE_ADDR=IP)
    event = assert_event("sheet.shared", actor=owner, workspace=workspace, target=f'sheet {sheet.pk} "{sheet.name}"')
    assert (event.target_type, event.target_id, event.details) == (
        "sheet",
        str(sheet.pk),
        {"email": person.email, "level": "edit"},
    )
    api(owner).post(share, {"email": person.email, "level": None}, format="json", REMOTE_ADDR=IP)
    assert_event("sheet.unshared", actor=owner, workspace=workspace, target=sheet.name, email=person.email)


def test_tokens_created_and_revoked(api, owner, workspace):
    created = api(owner).post(
        "/api/v1/tokens/", {"name": "ci", "workspace": workspace.pk}, format="json", REMOTE_ADDR=IP
    )
    assert created.status_code == 201
    assert_event("token.created", actor=owner, workspace=workspace, target="ci")
    assert created.json()["key"] not in str(AuditEvent.objects.values_list("target", "details"))  # never the secret
    api(owner).delete(f"/api/v1/tokens/{created.json()['id']}/", REMOTE_ADDR=IP)
    assert_event("token.revoked", actor=owner, workspace=workspace, target="ci")
    assert not ApiToken.objects.exists()


def test_an_export_of_a_sheet(api, owner, workspace, sheet):
    response = api(owner).get(f"/api/v1/sheets/{sheet.pk}/export/?format=csv", REMOTE_ADDR=IP)
    assert response.status_code == 200
    assert_event("export", actor=owner, workspace=workspace, target=sheet.name, format="csv")


def test_deleting_a_sheet_and_a_workspace(api, owner, workspace, sheet):
    assert api(owner).delete(f"/api/v1/sheets/{sheet.pk}/", REMOTE_ADDR=IP).status_code == 204
    assert_event("sheet.deleted", actor=owner, workspace=workspace, target=f'sheet {sheet.pk} "Orders"')
    assert not Sheet.objects.exists()
    workspace_id, name = workspace.pk, workspace.name
    assert api(owner).delete(f"/api/v1/workspaces/{workspace_id}/", REMOTE_ADDR=IP).status_code == 204
    event = assert_event("workspace.deleted", actor=owner, workspace=workspace, target=name)
    # The workspace is gone; its events stay, for the admin, with its id.
    assert event.workspace_id is None
    assert AuditEvent.objects.filter(workspace_ref=workspace_id).count() >= 2


def test_alert_rule_changes(api, owner, workspace):
    rules = f"/api/v1/workspaces/{workspace.pk}/alerts/"
    rule = {
        "name": "Errors",
        "metric": "error_rate",
        "agg": "avg",
        "window_seconds": 60,
        "comparison": ">",
        "threshold": 1,
    }
    created = api(owner).post(rules, rule, format="json", REMOTE_ADDR=IP)
    assert created.status_code == 201, created.json()
    assert_event("alert_rule.created", actor=owner, workspace=workspace, target="Errors")
    api(owner).patch(f"{rules}{created.json()['id']}/", {"threshold": 2}, format="json", REMOTE_ADDR=IP)
    assert_event("alert_rule.changed", actor=owner, workspace=workspace, target="Errors", fields=["threshold"])
    api(owner).delete(f"{rules}{created.json()['id']}/", REMOTE_ADDR=IP)
    assert_event("alert_rule.deleted", actor=owner, workspace=workspace, target="Errors")


def test_sheet_webhook_changes(api, owner, workspace):
    """Named by sheet and host: a webhook's URL may itself be a secret (a token in its path)."""
    from tests.factories import make_sheet

    sheet = make_sheet(workspace, owner)
    hooks = f"/api/v1/sheets/{sheet.pk}/webhooks/"
    created = api(owner).post(hooks, {"url": "https://8.8.8.8/secret-token", "columns": ["c2"]}, format="json",
                              REMOTE_ADDR=IP)  # fmt: skip
    assert created.status_code == 201, created.json()
    event = assert_event("webhook.created", actor=owner, workspace=workspace, target='"Orders" to 8.8.8.8',
                         sheet=sheet.pk, columns=["c2"])  # fmt: skip
    assert "secret-token" not in event.target and created.json()["secret"] not in str(event.details)
    api(owner).patch(f"{hooks}{created.json()['id']}/", {"rotate_secret": True}, format="json", REMOTE_ADDR=IP)
    assert_event("webhook.changed", actor=owner, workspace=workspace, target="8.8.8.8", fields=["secret"])
    api(owner).delete(f"{hooks}{created.json()['id']}/", REMOTE_ADDR=IP)
    assert_event("webhook.deleted", actor=owner, workspace=workspace, target="8.8.8.8")


# --- append-only and retention -----------------------------------------------------------------------


def test_events_are_append_only(workspace):
    event = audit.record("export", workspace=workspace, target="x")
    event.target = "changed"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).target == "x"


@pytest.fixture
def retention(settings):
    def keep(days):
        settings.GRIDCAST = {**settings.GRIDCAST, "AUDIT_RETENTION_DAYS": days}

    return keep


def test_audit_purge_deletes_what_is_older_than_the_retention(workspace, retention):
    retention(30)
    old, recent = backdated(31, workspace=workspace), backdated(29, workspace=workspace)
    out = io.StringIO()
    call_command("audit_purge", stdout=out)
    assert "Deleted 1 audit events older than 30 days" in out.getvalue()
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AuditEvent.objects.filter(pk=old.pk).exists()


def test_a_retention_of_zero_keeps_everything(workspace, retention):
    retention(0)
    old = backdated(5000, workspace=workspace)
    out = io.StringIO()
    call_command("audit_purge", stdout=out)
    audit.record("export", workspace=workspace)
    assert "nothing deleted" in out.getvalue()
    assert AuditEvent.objects.filter(pk=old.pk).exists()


def test_recording_purges_at_most_once_a_day(workspace, retention):
    retention(30)
    first = backdated(40, workspace=workspace)
    audit.record("export", workspace=workspace)
    assert not AuditEvent.objects.filter(pk=first.pk).exists()
    second = backdated(40, workspace=workspace)
    audit.record("export", workspace=workspace)
    assert AuditEvent.objects.filter(pk=second.pk).exists()  # purged once today already


# --- what a workspace sees ---------------------------------------------------------------------------


def test_owners_and_admins_read_the_log_newest_first(api, owner, workspace):
    admin = member(workspace, Role.ADMIN)
    audit.record("export", actor=owner, workspace=workspace, target="first")
    audit.record("export", actor=owner, workspace=workspace, target="second")
    for reader in (owner, admin):
        response = api(reader).get(url(workspace))
        assert response.status_code == 200
        assert [e["target"] for e in response.json()["results"]][:2] == ["second", "first"]
    event = response.json()["results"][0]
    assert set(event) == {
        "id", "kind", "label", "created_at", "actor", "actor_email", "ip", "workspace",
        "target_type", "target_id", "target", "details",
    }  # fmt: skip
    assert (event["actor"], event["actor_email"], event["workspace"]) == (owner.pk, owner.email, workspace.pk)
    assert api(member(workspace, Role.EDITOR)).get(url(workspace)).status_code == 403
    assert api(user()).get(url(workspace)).status_code == 404


def test_another_workspace_never_sees_these_events(client, api, workspace):
    a_owner = member(workspace, Role.OWNER, email="a.owner@example.com")
    both = member(workspace, Role.EDITOR, email="both@example.com")
    other = WorkspaceFactory(name="B")
    b_owner = member(other, Role.OWNER, email="b.owner@example.com")
    Membership.objects.create(workspace=other, user=both, role=Role.VIEWER)
    audit.record("export", actor=a_owner, workspace=workspace, target="A's secret export")
    for email in ("a.owner@example.com", "both@example.com"):
        client.post("/accounts/login/", {"login": email, "password": PASSWORD})
        client.post("/accounts/logout/")
    client.post("/accounts/login/", {"login": "a.owner@example.com", "password": "wrong"})
    client.post("/accounts/login/", {"login": "stranger@example.com", "password": "wrong"})

    seen_by_b = api(b_owner).get(url(other, "?page_size=500")).json()["results"]
    assert {(e["kind"], e["actor_email"]) for e in seen_by_b} == {
        ("auth.login", "both@example.com"),
        ("auth.logout", "both@example.com"),
    }
    seen_by_a = {
        (e["kind"], e["actor_email"]) for e in api(a_owner).get(url(workspace, "?page_size=500")).json()["results"]
    }
    assert ("auth.login_failed", "a.owner@example.com") in seen_by_a
    assert ("export", "a.owner@example.com") in seen_by_a
    assert not any(email == "stranger@example.com" for _, email in seen_by_a)
    # A's events are not reachable from B by id either: B's owner asks for A's log.
    assert api(b_owner).get(url(workspace)).status_code == 404


def test_a_former_member_s_logins_leave_the_log(api, owner, workspace):
    person = member(workspace, Role.EDITOR)
    audit.record("auth.login", actor=person)
    assert api(owner).get(url(workspace, "?kind=auth.login")).json()["results"]
    Membership.objects.filter(user=person).delete()
    assert not api(owner).get(url(workspace, "?kind=auth.login")).json()["results"]


# --- filters, pages, CSV ---------------------------------------------------------------------------


def test_filters(api, owner, workspace):
    other = member(workspace, Role.EDITOR, email="eve@example.com")
    audit.record("export", actor=owner, workspace=workspace, target="one")
    audit.record("sheet.deleted", actor=other, workspace=workspace, target="two")
    audit.record("member.removed", actor=other, workspace=workspace, target="three")
    backdated(
        3,
        kind="export",
        actor=owner,
        actor_email=owner.email,
        workspace=workspace,
        workspace_ref=workspace.pk,
        target="old",
    )

    def targets(query):
        response = api(owner).get(url(workspace, query))
        assert response.status_code == 200, response.json()
        return [e["target"] for e in response.json()["results"]]

    assert targets("?kind=export") == ["one", "old"]
    assert targets("?kind=export,sheet.deleted&since=" + timezone.now().date().isoformat()) == ["two", "one"]
    assert targets("?kind=sheet.deleted&kind=member.removed") == ["three", "two"]
    assert targets(f"?actor={other.pk}") == ["three", "two"]
    assert targets("?actor=EVE@example.com") == ["three", "two"]
    three_days_ago = (timezone.now() - dt.timedelta(days=3)).date().isoformat()
    assert targets(f"?until={three_days_ago}") == ["old"]
    assert targets(f"?until={three_days_ago}T00:00:00Z&kind=export") == []


@pytest.mark.parametrize(
    "query",
    ["?kind=nope", "?kind=export,nope", "?since=yesterday", "?until=2026-13-45", "?actor=drop table", "?page=0",
     "?page=x", "?page_size=100000", "?page=%C2%B2", "?actor=%C2%B2", "?actor=a%00@example.com",
     "?since=2026-01-01%00", "?format=xml"],
)  # fmt: skip
def test_bad_filters_are_400(api, owner, workspace, query):
    response = api(owner).get(url(workspace, query))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_pages(api, owner, workspace):
    for n in range(5):
        audit.record("export", actor=owner, workspace=workspace, target=f"e{n}")
    first = api(owner).get(url(workspace, "?kind=export&page_size=2")).json()
    assert [e["target"] for e in first["results"]] == ["e4", "e3"] and first["previous"] is None
    second = api(owner).get(first["next"]).json()
    assert [e["target"] for e in second["results"]] == ["e2", "e1"]
    third = api(owner).get(second["next"]).json()
    assert [e["target"] for e in third["results"]] == ["e0"] and third["next"] is None
    assert "kind=export" in third["previous"] and "page=2" in third["previous"]


def test_csv_has_every_filtered_event_neutralized_and_is_itself_recorded(api, owner, workspace):
    audit.record("export", actor=owner, workspace=workspace, target='=HYPERLINK("http://evil")')
    audit.record("sheet.deleted", actor=owner, workspace=workspace, target="not this one")
    for response in (
        api(owner).get(url(workspace, "?format=csv&kind=export"), REMOTE_ADDR=IP),
        api(owner).get(url(workspace, "?kind=export"), HTTP_ACCEPT="text/csv", REMOTE_ADDR=IP),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
        assert list(rows[0]) == audit.CSV_COLUMNS
        assert {row["kind"] for row in rows} == {"export"}
        assert '\'=HYPERLINK("http://evil")' in [row["target"] for row in rows]
    assert_event("export", actor=owner, workspace=workspace, target="audit log", format="csv")


# --- the page ---------------------------------------------------------------------------------------


def test_the_audit_page(client, owner, workspace):
    audit.record("export", actor=owner, workspace=workspace, target="shown", format="csv")
    client.force_login(owner)
    page = client.get(f"/workspaces/{workspace.pk}/audit/?kind=export").content.decode()
    assert "shown" in page and '<th scope="col">Event</th>' in page and 'for="audit-kind"' in page
    assert f"/api/v1/workspaces/{workspace.pk}/audit/?format=csv&amp;kind=export" in page
    assert (
        f'href="/workspaces/{workspace.pk}/audit/"'
        in client.get(f"/workspaces/{workspace.pk}/members/").content.decode()
    )
    bad = client.get(f"/workspaces/{workspace.pk}/audit/?since=never")
    assert bad.status_code == 400 and "since must be" in bad.content.decode()


def test_the_audit_page_pages(client, owner, workspace):
    for n in range(3):
        audit.record("export", actor=owner, workspace=workspace, target=f"e{n}")
    client.force_login(owner)
    response = client.get(f"/workspaces/{workspace.pk}/audit/?kind=export&page_size=2")
    # The rows shown, read from the page's context: the page's own text (a CSRF token) may hold "e0".
    assert [event["target"] for event in response.context["events"]] == ["e2", "e1"]
    assert 'rel="next"' in response.content.decode()


@pytest.mark.parametrize("role,status", [(Role.ADMIN, 200), (Role.EDITOR, 403), (Role.VIEWER, 403), (None, 404)])
def test_the_audit_page_is_for_owners_and_admins(client, workspace, role, status):
    person = member(workspace, role) if role else user()
    client.force_login(person)
    assert client.get(f"/workspaces/{workspace.pk}/audit/").status_code == status


def test_the_admin_lists_events_read_only(client, workspace):
    admin_user = user(is_staff=True, is_superuser=True)
    audit.record("export", workspace=workspace, target="in the admin")
    client.force_login(admin_user)
    assert "in the admin" in client.get("/admin/accounts/auditevent/?q=admin").content.decode()
    event = AuditEvent.objects.get(target="in the admin")
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_service_knows_the_request_it_serves(workspace):
    """The server runs Django under ASGI: the request `record` reads (RequestContext) still reaches
    a service called by a synchronous view."""
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    owner = await sync_to_async(member)(workspace, Role.OWNER)
    leaving = await sync_to_async(member)(workspace, Role.VIEWER)
    _, key = await sync_to_async(ApiToken.issue)(user=owner, name="script")
    response = await AsyncClient().delete(
        f"/api/v1/workspaces/{workspace.pk}/members/{leaving.pk}/", headers={"Authorization": f"Token {key}"}
    )
    assert response.status_code == 204
    event = await sync_to_async(last)("member.removed")
    assert (event.actor_id, event.ip, event.target_id) == (owner.pk, "127.0.0.1", str(leaving.pk))


def test_outside_text_with_a_nul_is_recorded_without_it(workspace):
    details = {"k": "v\x00w", "literal": "\\u0000x"}
    event = audit.record("auth.login_failed", actor="a\x00b@example.com", target="x\x00y", tried=details)
    event.refresh_from_db()
    assert (event.actor_email, event.target) == ("ab@example.com", "xy")
    assert event.details == {"tried": {"k": "vw", "literal": "\\u0000x"}}


def test_a_role_given_to_an_address_without_an_account_is_an_invitation(api, owner, workspace):
    body = {"email": "Nobody.Yet@example.com", "role": "viewer"}
    assert api(owner).post(f"/api/v1/workspaces/{workspace.pk}/members/", body, format="json").status_code == 202
    event = last("invitation.sent")
    assert (event.actor_id, event.workspace_ref, event.target, event.details) == (
        owner.pk,
        workspace.pk,
        "nobody.yet@example.com",
        {"role": "viewer", "by": "address"},
    )
    assert not AuditEvent.objects.filter(kind="member.added").exists()


def test_deleting_a_workspace_in_the_admin_is_recorded(client, workspace):
    staff = user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(f"/admin/accounts/workspace/{workspace.pk}/delete/", {"post": "yes"}, REMOTE_ADDR=IP)
    assert response.status_code == 302
    assert_event("workspace.deleted", actor=staff, workspace=workspace, target=workspace.name)


def test_the_audit_log_shares_the_export_limit(api, owner, workspace, settings):
    framework = dict(settings.REST_FRAMEWORK)
    settings.REST_FRAMEWORK = {
        **framework,
        "DEFAULT_THROTTLE_RATES": {**framework["DEFAULT_THROTTLE_RATES"], "exports": "2/d"},
    }
    client = api(owner)
    for _ in range(2):
        assert client.get(url(workspace, "?format=csv")).status_code == 200
    assert client.get(url(workspace)).status_code == 429


def test_an_anonymous_actor_is_no_actor(workspace):
    from django.contrib.auth.models import AnonymousUser

    event = audit.record("export", actor=AnonymousUser(), workspace=workspace)
    assert (event.actor_id, event.actor_email) == (None, "")
