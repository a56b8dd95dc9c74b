"""The one place that answers what a user may do with a workspace or a sheet.

Every REST view and every WebSocket consumer asks here. Access comes from the workspace
membership role, or from a sheet shared individually (django-guardian `view_sheet` /
`change_sheet`). An API token scoped to a workspace (`user.token_workspace_id`) reaches
nothing outside it.
"""
from enum import IntEnum

from guardian.shortcuts import get_user_perms

from accounts.models import Membership, Role

from core.errors import NotFound, PermissionDenied


class Access(IntEnum):
    NONE = 0
    VIEW = 1
    EDIT = 2
    MANAGE = 3
    OWN = 4


ROLE_ACCESS = {Role.VIEWER: Access.VIEW, Role.EDITOR: Access.EDIT, Role.ADMIN: Access.MANAGE, Role.OWNER: Access.OWN}


def _in_token_scope(user, workspace_id):
    scope = getattr(user, "token_workspace_id", None)
    return scope is None or scope == workspace_id


def workspace_role(user, workspace_id):
    if not user.is_authenticated or not user.is_active or not _in_token_scope(user, workspace_id):
        return None
    role = Membership.objects.filter(workspace_id=workspace_id, user=user).values_list("role", flat=True).first()
    return Role(role) if role else None


def workspace_access(user, workspace_id):
    role = workspace_role(user, workspace_id)
    return ROLE_ACCESS[role] if role else Access.NONE


def sheet_access(user, sheet):
    access = workspace_access(user, sheet.workspace_id)
    if access >= Access.EDIT or not user.is_authenticated or not _in_token_scope(user, sheet.workspace_id):
        return access
    shared = get_user_perms(user, sheet)
    if "change_sheet" in shared:
        return Access.EDIT
    if "view_sheet" in shared:
        return max(access, Access.VIEW)
    return access


def _require(access, needed, what):
    if access == Access.NONE:
        # Without view access the thing does not exist for this user: no existence leak.
        raise NotFound(f"{what} not found")
    if access < needed:
        raise PermissionDenied(f"you need {needed.name.lower()} access to this {what.lower()}")
    return access


def require_sheet(user, sheet, needed=Access.VIEW):
    return _require(sheet_access(user, sheet), needed, "Sheet")


def require_workspace(user, workspace_id, needed=Access.VIEW):
    return _require(workspace_access(user, workspace_id), needed, "Workspace")


def can_view_sheet(user, sheet):
    return sheet_access(user, sheet) >= Access.VIEW


def can_edit_sheet(user, sheet):
    return sheet_access(user, sheet) >= Access.EDIT


def can_manage_sheet(user, sheet):
    return sheet_access(user, sheet) >= Access.MANAGE
