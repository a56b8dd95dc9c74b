"""Writes of workspaces, memberships and API tokens."""

from django.db import transaction

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, check_quota
from core.transactions import atomic_retried

from . import audit, signals
from .models import (
    METRIC_RETENTION_MAX_DAYS,
    METRIC_RETENTION_MESSAGE,
    METRIC_RETENTION_MIN_DAYS,
    ApiToken,
    Membership,
    Role,
    User,
    Workspace,
)
from .two_factor import has_two_factor, missing_message, workspaces_requiring


@transaction.atomic
def workspace_create(*, name: str | None, owner: User) -> Workspace:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("workspace name must be 1 to 200 characters")
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def workspace_rename(*, workspace: Workspace, name: str | None) -> Workspace:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("workspace name must be 1 to 200 characters")
    _update(workspace, name=name)
    return workspace


def _update(workspace: Workspace, **fields: object) -> None:
    """Set fields of a workspace, which may have been deleted since it was read (404, not a 500).
    Saved, not updated by a query: receivers of post_save act on it (requiring two-factor ends the
    sockets of the members without it: realtime.revocation)."""
    with transaction.atomic():
        if Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first() is None:
            raise NotFound("Workspace not found")
        for name, value in fields.items():
            setattr(workspace, name, value)
        workspace.save(update_fields=list(fields))


@transaction.atomic
def workspace_two_factor_set(*, workspace: Workspace, required: bool, by_user: User) -> Workspace:
    """Require two-factor authentication of the workspace's members, or stop requiring it. Turning
    it on is refused (409) while the person asking has none: it would lock them out at once."""
    if required and not workspace.require_two_factor and not has_two_factor(by_user):
        raise Conflict(
            "set up two-factor authentication for your own account first (Account, Two-factor "
            "authentication): requiring it now would lock you out of this workspace"
        )
    if required != workspace.require_two_factor:
        audit.record("workspace.two_factor_changed", workspace=workspace, target=workspace, required=required)
    _update(workspace, require_two_factor=required)
    return workspace


@transaction.atomic
def workspace_metric_retention_set(*, workspace: Workspace, days: int | None) -> Workspace:
    """Keep the workspace's raw metric events `days` days (None: forever). Older events are deleted
    by the analytics worker's next retention pass once the rollups hold them
    (analytics/metrics/retention.py); a change is recorded in the audit log."""
    if days is not None and (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not METRIC_RETENTION_MIN_DAYS <= days <= METRIC_RETENTION_MAX_DAYS
    ):
        raise InvalidInput(METRIC_RETENTION_MESSAGE, field="metric_retention_days")
    if days != workspace.metric_retention_days:
        audit.record(
            "workspace.metric_retention_changed",
            workspace=workspace,
            target=workspace,
            days=days,
            previous=workspace.metric_retention_days,
        )
    _update(workspace, metric_retention_days=days)
    return workspace


@atomic_retried
def workspace_delete(*, workspace: Workspace) -> None:
    # Two deletions of one workspace at once: the second waits here, then finds nothing. FOR NO KEY
    # UPDATE, not FOR UPDATE: an edit under way in one of its sheets refers to the workspace at
    # commit (FOR KEY SHARE), and must commit before the sheets are locked next
    # (signals.workspace_deleting: what other apps own is locked as their writers lock it). A
    # write racing the cascade anyway makes it try again (core.transactions).
    if Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first() is None:
        raise NotFound("Workspace not found")
    signals.workspace_deleting.send(Workspace, workspace=workspace)
    audit.record("workspace.deleted", workspace=workspace, target=workspace)
    workspace.delete()


def check_role(role: str) -> Role:
    if role not in Role.values:
        raise InvalidInput(f"role must be one of {', '.join(Role.values)}")
    return Role(role)


def grantable_role(role: str, by_role: Role | None) -> Role:
    """`role` checked, and refused unless whoever asks (`by_role`) may grant it: only owners grant owner."""
    role = check_role(role)
    if role == Role.OWNER and by_role != Role.OWNER:
        raise PermissionDenied("only an owner can grant or take the owner role")
    return role


@atomic_retried
def membership_set(*, workspace: Workspace, email: str | None, role: str, by_role: Role | None) -> Membership:
    """Add a user (by e-mail) to a workspace or change their role. Only owners grant or take owner."""
    role = check_role(role)
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    if user is None:
        raise NotFound(f"no user with e-mail {email!r}")
    current = _locked_membership(workspace, user.pk)
    if Role.OWNER in (role, current and current.role) and by_role != Role.OWNER:
        raise PermissionDenied("only an owner can grant or take the owner role")
    if current and current.role == Role.OWNER and role != Role.OWNER:
        _keep_an_owner(workspace, user)
    if current is None:
        audit.record("member.added", workspace=workspace, target=user, role=role.value)
        return Membership.objects.create(workspace=workspace, user=user, role=role)
    if current.role != role:
        audit.record("member.role_changed", workspace=workspace, target=user, role=role.value, previous=current.role)
    current.role = role
    current.save(update_fields=["role"])
    return current


def _locked_membership(workspace: Workspace, user_id: int) -> Membership | None:
    """The membership, its row locked, and only its row: Membership's default ordering joins the
    user and the workspace, and FOR UPDATE without OF locked their rows too; a commit checking a
    foreign key to the workspace then deadlocked with a role change (found by schemathesis)."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .filter(workspace=workspace, user_id=user_id)
        .select_related("user")
        .first()
    )


def _keep_an_owner(workspace: Workspace, leaving_user: User) -> None:
    others = Membership.objects.filter(workspace=workspace, role=Role.OWNER).exclude(user=leaving_user)
    if not others.exists():
        raise Conflict("a workspace must keep at least one owner")


@atomic_retried
def membership_remove(*, workspace: Workspace, user_id: int, by_role: Role | None) -> None:
    membership = _locked_membership(workspace, user_id)
    if membership is None:
        raise NotFound("member not found")
    if membership.role == Role.OWNER:
        if by_role != Role.OWNER:
            raise PermissionDenied("only an owner can remove an owner")
        _keep_an_owner(workspace, membership.user)
    audit.record("member.removed", workspace=workspace, target=membership.user, role=membership.role)
    membership.delete()


def token_create(*, user: User, name: str | None, workspace: Workspace | None = None) -> tuple[ApiToken, str]:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("token name must be 1 to 100 characters")
    # A token would reach what the session cannot (or will, once two-factor is set up): none until then.
    requiring = workspaces_requiring(user)
    if requiring:
        raise PermissionDenied(f"{missing_message(requiring)} No API tokens until then.")
    scope = getattr(user, "token_workspace_id", None)
    if scope is not None and workspace is None:
        raise PermissionDenied("a workspace-scoped token can only create tokens for its own workspace")
    # Another workspace is out of a scoped token's reach, as if it did not exist.
    if workspace is not None and (
        (scope is not None and workspace.pk != scope)
        or not Membership.objects.filter(workspace=workspace, user=user).exists()
    ):
        raise NotFound("Workspace not found")
    with transaction.atomic():
        # FOR NO KEY UPDATE serializes the quota check without blocking the foreign-key checks of
        # rows that refer to the user (a workspace deletion's audit event, at its commit): FOR
        # UPDATE deadlocked with one. The workspace is locked too: a token of a workspace deleted
        # meanwhile is not found, not a foreign-key error at commit.
        User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
        locked = Workspace.objects.select_for_update(no_key=True)
        if workspace is not None and locked.filter(pk=workspace.pk).first() is None:
            raise NotFound("Workspace not found")
        check_quota("MAX_TOKENS_PER_USER", ApiToken.objects.filter(user_id=user.pk).count(), "API tokens per user")
        token, key = ApiToken.issue(user=user, name=name, workspace=workspace)
        audit.record("token.created", actor=user, workspace=workspace, target=token)
        return token, key


@transaction.atomic
def token_revoke(*, user: User, token_id: int) -> None:
    """Revoke one of the user's tokens; a workspace-scoped token reaches only tokens of its workspace."""
    tokens = ApiToken.objects.filter(user=user, pk=token_id)
    scope = getattr(user, "token_workspace_id", None)
    if scope is not None:
        tokens = tokens.filter(workspace_id=scope)
    token = tokens.first()
    if token is None:
        raise NotFound("token not found")
    audit.record("token.revoked", actor=user, workspace=token.workspace_id, target=token)
    token.delete()


def theme_set(*, user: User, theme: str | None) -> None:
    if theme not in User.Theme.values:
        raise InvalidInput(f"theme must be one of {', '.join(User.Theme.values)}")
    user.theme = theme
    user.save(update_fields=["theme"])
