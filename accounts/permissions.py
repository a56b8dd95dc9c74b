"""What a user may do with a workspace: the membership role as an access level. Sheets add
individual sharing on top (sheets.permissions); every REST view and socket asks through them.
An API token scoped to a workspace (`user.token_workspace_id`) reaches nothing outside it."""

from enum import IntEnum

from core.errors import NotFound, PermissionDenied

from .models import Membership, Role, User


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


def workspace_role(user: User, workspace_id: int) -> Role | None:
    if not user.is_authenticated or not user.is_active or not in_token_scope(user, workspace_id):
        return None
    role = Membership.objects.filter(workspace_id=workspace_id, user=user).values_list("role", flat=True).first()
    return Role(role) if role else None


def workspace_access(user: User, workspace_id: int) -> Access:
    role = workspace_role(user, workspace_id)
    return ROLE_ACCESS[role] if role else Access.NONE


def require(access: Access, needed: Access, what: str) -> Access:
    if access == Access.NONE:
        # Without view access the thing does not exist for this user: no existence leak.
        raise NotFound(f"{what} not found")
    if access < needed:
        raise PermissionDenied(f"you need {needed.name.lower()} access to this {what.lower()}")
    return access


def require_workspace(user: User, workspace_id: int, needed: Access = Access.VIEW) -> Access:
    return require(workspace_access(user, workspace_id), needed, "Workspace")
