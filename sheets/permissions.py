"""What a user may do with a sheet: the workspace role (accounts.permissions), or the sheet shared
individually (django-guardian `view_sheet` / `change_sheet`). Every REST view and every WebSocket
consumer asks here. A member refused by a workspace that requires two-factor authentication gets
nothing of its sheets, shared or not."""

from guardian.shortcuts import get_user_perms

from accounts.models import User
from accounts.permissions import (
    Access,
    check_two_factor,
    in_token_scope,
    lacks_required_two_factor,
    require,
    workspace_access,
)

from .models import Sheet


def sheet_access(user: User, sheet: Sheet) -> Access:
    access = workspace_access(user, sheet.workspace_id)
    if access >= Access.EDIT or not user.is_authenticated or not in_token_scope(user, sheet.workspace_id):
        return access
    if access == Access.NONE and lacks_required_two_factor(user, sheet.workspace_id):
        return Access.NONE
    shared = get_user_perms(user, sheet)
    if "change_sheet" in shared:
        return Access.EDIT
    if "view_sheet" in shared:
        return max(access, Access.VIEW)
    return access


def require_sheet(user: User, sheet: Sheet, needed: Access = Access.VIEW) -> Access:
    access = sheet_access(user, sheet)
    if access == Access.NONE:
        check_two_factor(user, sheet.workspace_id)
    return require(access, needed, "Sheet")
