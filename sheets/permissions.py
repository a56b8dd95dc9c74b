"""What a user may do with a sheet: the workspace role (accounts.permissions), or the sheet shared
individually (django-guardian `view_sheet` / `change_sheet`). Every REST view and every WebSocket
consumer asks here."""

from guardian.shortcuts import get_user_perms

from accounts.models import User
from accounts.permissions import Access, in_token_scope, require, workspace_access

from .models import Sheet


def sheet_access(user: User, sheet: Sheet) -> Access:
    access = workspace_access(user, sheet.workspace_id)
    if access >= Access.EDIT or not user.is_authenticated or not in_token_scope(user, sheet.workspace_id):
        return access
    shared = get_user_perms(user, sheet)
    if "change_sheet" in shared:
        return Access.EDIT
    if "view_sheet" in shared:
        return max(access, Access.VIEW)
    return access


def require_sheet(user: User, sheet: Sheet, needed: Access = Access.VIEW) -> Access:
    return require(sheet_access(user, sheet), needed, "Sheet")
