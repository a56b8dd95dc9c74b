"""What a user may do with a workspace: the membership role as an access level. Sheets add
individual sharing on top (sheets.permissions); every REST view and socket asks through them.
An API token scoped to a workspace (`user.token_workspace_id`) reaches nothing outside it.
A workspace that requires two-factor authentication gives nothing to a member who has none
(whatever the credential: session, API token, socket); `require_workspace` and
`sheets.permissions.require_sheet` say why (403) instead of "not found"."""

from enum import IntEnum

from core.errors import NotFound, PermissionDenied

from .models import Membership, Role, User, Workspace
from .two_factor import has_two_factor, missing_message, workspaces_requiring


class Access(IntEnum):
    NONE = 0
    VIEW = 1
    EDIT = 2
    MANAGE = 3
    OWN = 4


ROLE_ACCESS = {Role.VIEWER: Access.VIEW, Role.EDITOR: Access.EDIT, Role.ADMIN: Access.MANAGE, Role.OWNER: Access.OWN}


def in_token_scope(user: User, workspace_id: int) -> bool:
    scope = getattr(user, "token_workspace_id", None)
    return scope is None or scope == workspace_id


def _membership(user: User, workspace_id: int) -> tuple[str, bool] | None:
    """(role, whether the workspace requires two-factor) of the user's membership, or None."""
    if not user.is_authenticated or not user.is_active or not in_token_scope(user, workspace_id):
        return None
    return (
        Membership.objects.filter(workspace_id=workspace_id, user=user)
        .values_list("role", "workspace__require_two_factor")
        .first()
    )


def workspace_role(user: User, workspace_id: int) -> Role | None:
    membership = _membership(user, workspace_id)
    if membership is None:
        return None
    role, requires_two_factor = membership
    if requires_two_factor and not has_two_factor(user):
        return None
    return Role(role)


def workspace_access(user: User, workspace_id: int) -> Access:
    role = workspace_role(user, workspace_id)
    return ROLE_ACCESS[role] if role else Access.NONE


def lacks_required_two_factor(user: User, workspace_id: int) -> bool:
    """The user is a member of the workspace, which requires two-factor authentication, and has none."""
    membership = _membership(user, workspace_id)
    return membership is not None and membership[1] and not has_two_factor(user)


def refused_workspace_ids(user: User) -> list[int]:
    """The workspaces of the user that refuse them for want of two-factor authentication: lists
    (workspaces, sheets, the home page, the bell) leave them out, as workspace_role does."""
    return [workspace.pk for workspace in workspaces_requiring(user)]


def check_two_factor(user: User, workspace_id: int) -> None:
    """Raise PermissionDenied, saying why, when the workspace refuses the user for want of
    two-factor authentication (only its members learn that it requires it)."""
    if lacks_required_two_factor(user, workspace_id):
        raise PermissionDenied(missing_message(list(Workspace.objects.filter(pk=workspace_id))))


def require(access: Access, needed: Access, what: str) -> Access:
    if access == Access.NONE:
        # Without view access the thing does not exist for this user: no existence leak.
        raise NotFound(f"{what} not found")
    if access < needed:
        raise PermissionDenied(f"you need {needed.name.lower()} access to this {what.lower()}")
    return access


def require_workspace(user: User, workspace_id: int, needed: Access = Access.VIEW) -> Access:
    access = workspace_access(user, workspace_id)
    if access == Access.NONE:
        check_two_factor(user, workspace_id)
    return require(access, needed, "Workspace")
