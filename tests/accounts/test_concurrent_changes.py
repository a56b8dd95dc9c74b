"""Changes of one user at the same moment, in two transactions of their own (real PostgreSQL row
locks): none deadlocks, and each ends in an answer, never a database error."""

import threading

import pytest
from django.db import connection, transaction
from django.test import RequestFactory

from accounts import audit, services
from accounts.models import ApiToken, AuditEvent, Role, Workspace
from core.errors import NotFound
from sheets import services as sheets_services
from sheets.models import Row

from ..factories import WorkspaceFactory, make_sheet, member

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_token_asked_for_while_its_workspace_is_deleted_is_not_found():
    """The deletion's audit event refers to its actor, checked at commit (FOR KEY SHARE of the
    user's row); the token's quota check locks the same row. With FOR UPDATE the two waited for
    each other (PostgreSQL: deadlock detected, a 500)."""
    workspace = WorkspaceFactory(name="Going")
    owner = member(workspace, Role.OWNER, email="owner@example.com")
    deleted, outcome = threading.Event(), {}

    def delete():
        try:
            with transaction.atomic():
                # As the owner's request (the audit event names them as its actor).
                request = RequestFactory().delete(f"/api/v1/workspaces/{workspace.pk}/")
                request.user = owner
                going = Workspace.objects.get(pk=workspace.pk)
                audit.RequestContext(lambda request: services.workspace_delete(workspace=going))(request)
                deleted.set()
                threading.Event().wait(0.5)  # the token's transaction is now waiting on this one
        except Exception as error:  # noqa: BLE001 - the outcome is what the test asserts
            outcome["delete"] = error
        finally:
            deleted.set()
            connection.close()

    def create_token():
        deleted.wait(5)
        try:
            services.token_create(user=owner, name="ci", workspace=workspace)
            outcome["token"] = "created"
        except Exception as error:  # noqa: BLE001
            outcome["token"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=delete), threading.Thread(target=create_token)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert "delete" not in outcome, outcome
    assert isinstance(outcome["token"], NotFound), outcome
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.filter(kind="workspace.deleted", workspace_ref=workspace.pk, actor=owner).exists()


def test_a_workspace_deleted_twice_at_once_is_deleted_once():
    """Two deletions of one workspace (a double click, a retried request): the second waits for
    the first and finds nothing, instead of running its cascade against the first (deadlock
    detected, or its audit event pointing at a workspace that is gone: a 500 either way)."""
    workspace = WorkspaceFactory(name="Twice")
    owner = member(workspace, Role.OWNER, email="owner@example.com")
    member(workspace, Role.EDITOR, email="editor@example.com")
    first_done, outcome = threading.Event(), {}

    def delete(name, hold):
        if not hold:
            first_done.wait(5)
        try:
            with transaction.atomic():
                request = RequestFactory().delete(f"/api/v1/workspaces/{workspace.pk}/")
                request.user = owner
                going = Workspace.objects.get(pk=workspace.pk)
                audit.RequestContext(lambda request: services.workspace_delete(workspace=going))(request)
                if hold:
                    first_done.set()
                    threading.Event().wait(0.5)  # the second deletion runs meanwhile
            outcome[name] = "deleted"
        except Exception as error:  # noqa: BLE001 - the outcome is what the test asserts
            outcome[name] = error
        finally:
            first_done.set()
            connection.close()

    threads = [
        threading.Thread(target=delete, args=("first", True)),
        threading.Thread(target=delete, args=("second", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert outcome["first"] == "deleted", outcome
    assert isinstance(outcome["second"], NotFound), outcome
    assert AuditEvent.objects.filter(kind="workspace.deleted").count() == 1


def test_rows_added_while_the_workspace_is_deleted_do_not_fail_the_deletion():
    """An edit inserts rows into a sheet and commits while the workspace's cascade is under way:
    the cascade had read the sheet's rows before them, so deleting the sheet left rows pointing at
    nothing and PostgreSQL refused the commit (a foreign-key violation, a 500). The deletion is
    tried again on a fresh transaction and deletes them too (core.transactions)."""
    workspace = WorkspaceFactory(name="Busy")
    owner = member(workspace, Role.OWNER, email="owner@example.com")
    sheet = make_sheet(workspace, owner, rows=3)
    inserted, outcome = threading.Event(), {}

    def edit():
        try:
            with transaction.atomic():
                sheets_services.rows_insert(sheet=sheet, actor=owner, count=2)
                inserted.set()
                threading.Event().wait(1.0)  # the deletion reads the rows meanwhile, then waits
            outcome["edit"] = "inserted"
        except Exception as error:  # noqa: BLE001 - the outcome is what the test asserts
            outcome["edit"] = error
        finally:
            inserted.set()
            connection.close()

    def delete():
        inserted.wait(5)
        try:
            services.workspace_delete(workspace=Workspace.objects.get(pk=workspace.pk))
            outcome["delete"] = "deleted"
        except Exception as error:  # noqa: BLE001
            outcome["delete"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=edit), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert outcome == {"edit": "inserted", "delete": "deleted"}, str(outcome.get("delete"))
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not Row.objects.filter(sheet_id=sheet.pk).exists()


def test_a_workspace_renamed_after_it_was_deleted_is_not_found():
    """A rename read the workspace, then its deletion committed: the rename's UPDATE changes no row
    (Django: "did not affect any rows", a 500 before)."""
    workspace = WorkspaceFactory(name="Old")
    stale = Workspace.objects.get(pk=workspace.pk)
    services.workspace_delete(workspace=workspace)
    with pytest.raises(NotFound):
        services.workspace_rename(workspace=stale, name="New")
    with pytest.raises(NotFound):
        services.workspace_two_factor_set(workspace=stale, required=False, by_user=None)


def test_a_role_change_locks_the_membership_and_not_its_workspace():
    """Membership's default ordering joins the user and the workspace; FOR UPDATE without OF locked
    their rows too, so anything referring to the workspace waited for a role change to end (and
    deadlocked with it in schemathesis: PATCH members/{user_id} answered 500). A sheet is created
    in the workspace while a role change holds its lock: it does not wait."""
    workspace = WorkspaceFactory(name="Busy")
    owner = member(workspace, Role.OWNER, email="owner@example.com")
    editor = member(workspace, Role.EDITOR, email="editor@example.com")
    locked, created, outcome = threading.Event(), threading.Event(), {}

    def change_role():
        try:
            with transaction.atomic():
                services.membership_set(workspace=workspace, email=editor.email, role="viewer", by_role=Role.OWNER)
                locked.set()
                outcome["sheet created while the lock was held"] = created.wait(3)
        finally:
            locked.set()
            connection.close()

    def create_sheet():
        locked.wait(5)
        try:
            sheets_services.sheet_create(workspace=workspace, name="During", actor=owner)
            created.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=change_role), threading.Thread(target=create_sheet)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert outcome == {"sheet created while the lock was held": True}
