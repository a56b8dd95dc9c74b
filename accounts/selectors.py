"""Reads of workspaces and memberships."""

from django.db.models import QuerySet

from .models import User, Workspace
from .permissions import refused_workspace_ids


def workspaces_for_user(user: User) -> QuerySet[Workspace]:
    """The workspaces the user is a member of (within its API token's workspace, if it has one),
    but those that require two-factor authentication of a user without it."""
    workspaces = Workspace.objects.filter(memberships__user=user).exclude(pk__in=refused_workspace_ids(user))
    scope = getattr(user, "token_workspace_id", None)
    if scope is not None:
        workspaces = workspaces.filter(pk=scope)
    return workspaces
