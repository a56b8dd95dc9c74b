"""Pages of the account area: API tokens, the theme setting, a workspace's members and the link of
an invitation."""

from collections.abc import Mapping
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import workspaces_for_user
from core import jsonio
from core.api_errors import json_error
from core.errors import GridcastError, InvalidInput, NotFound

from . import audit, invitations, notification_preferences, permissions, services, two_factor
from .models import Invitation, Membership, Role, Workspace
from .permissions import Access


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    new_key = None
    if request.method == "POST":
        workspace = workspaces_for_user(request.user).filter(pk=request.POST.get("workspace") or None).first()
        try:
            _, new_key = services.token_create(user=request.user, name=request.POST.get("name"), workspace=workspace)
        except GridcastError as error:
            messages.error(request, error.message)
    return render(
        request,
        "tokens.html",
        {
            "tokens": request.user.api_tokens.select_related("workspace"),
            "workspaces": workspaces_for_user(request.user),
            "new_key": new_key,
        },
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    try:
        services.token_revoke(user=request.user, token_id=pk)
        messages.success(request, "Token revoked.")
    except GridcastError as error:
        messages.error(request, error.message)
    return redirect("tokens")


@login_required
@require_POST
def theme(request: HttpRequest) -> HttpResponse:
    try:
        body = jsonio.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise InvalidInput('send {"theme": ...} as JSON')
        services.theme_set(user=request.user, theme=body.get("theme"))
    except GridcastError as error:
        return json_error(error)
    return JsonResponse({"theme": request.user.theme})


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The account's notification preferences: per kind, in the app, by e-mail, both or none."""
    if request.method == "POST":
        kinds = notification_preferences.Kind.values
        try:
            notification_preferences.preferences_set(
                user=request.user, changes={k: request.POST.get(k) for k in kinds if k in request.POST}
            )
            messages.success(request, "Notification preferences saved.")
        except GridcastError as error:
            messages.error(request, error.message)
        return redirect("account-notifications")
    chosen = notification_preferences.preferences_of(request.user)
    rows = [(kind, label, chosen[kind]) for kind, label in notification_preferences.Kind.choices]
    return render(
        request,
        "notifications.html",
        {"rows": rows, "channels": notification_preferences.Channel.choices},
    )


def invitation_accept(request: HttpRequest, key: str) -> HttpResponse:
    """The link of an invitation e-mail: after logging in (or signing up) with the invited address,
    the person joins the workspace; any other outcome is a page saying why, and grants nothing."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        membership = invitations.invitation_accept(key=key, user=request.user)
    except GridcastError as error:
        return render(request, "invitation.html", {"error": error.message}, status=error.status)
    messages.success(request, f"You joined {membership.workspace.name} as {membership.role}.")
    return redirect("home")


# --- the members page ----------------------------------------------------------------------------

_MEMBER_ACTIONS = ("invite", "role", "remove", "resend", "revoke", "two_factor")


def _members_action(request: HttpRequest, workspace: Workspace) -> str:
    """Do what the members page's form asked (with the same services and checks as the REST API);
    returns what to tell the person."""
    action, form = request.POST.get("action"), request.POST
    by_role = permissions.workspace_role(request.user, workspace.pk)
    if action == "two_factor":
        required = {"1": True, "0": False}.get(form.get("required") or "")
        if required is None:
            raise InvalidInput("required must be 1 or 0")
        services.workspace_two_factor_set(workspace=workspace, required=required, by_user=request.user)
        if required:
            return "Members now need two-factor authentication to reach this workspace."
        return "Members no longer need two-factor authentication to reach this workspace."
    if action == "invite":
        email = (form.get("email") or "").strip()
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput(f"{email[:60]!r} is not an e-mail address") from None
        invitations.invitation_send(
            workspace=workspace,
            email=email,
            role=form.get("role") or "viewer",
            by_role=by_role,
            invited_by=request.user,
            accept_url=invitations.links_for(request),
        )
        return f"Invitation sent to {email}."
    if action in ("role", "remove"):
        member = (
            Membership.objects.select_related("user").filter(workspace=workspace, user_id=_id(form, "user")).first()
        )
        if member is None:
            raise NotFound("member not found")
        if action == "remove":
            services.membership_remove(workspace=workspace, user_id=member.user_id, by_role=by_role)
            return f"{member.user.label} is no longer a member."
        services.membership_set(workspace=workspace, email=member.user.email, role=form.get("role"), by_role=by_role)
        return f"{member.user.label} is now {form.get('role')}."
    invitation = invitations.workspace_invitation(workspace, _id(form, "invitation"))
    if action == "resend":
        invitations.invitation_resend(
            invitation=invitation,
            accept_url=invitations.links_for(request),
        )
        return f"Invitation sent to {invitation.email} again."
    invitations.invitation_revoke(invitation=invitation)
    return f"Invitation of {invitation.email} revoked."


def _id(form: Mapping[str, str], name: str) -> int:
    value = form.get(name) or ""
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(f"{name} must be an id")
    return int(value)


@login_required
def members(request: HttpRequest, pk: int) -> HttpResponse:
    """A workspace's members and pending invitations, for its owners and admins: change a role,
    remove a member, invite by e-mail, resend or revoke an invitation, require two-factor
    authentication of the members."""
    permissions.require_workspace(request.user, pk, Access.MANAGE)
    workspace = Workspace.objects.get(pk=pk)
    if request.method == "POST":
        try:
            if request.POST.get("action") not in _MEMBER_ACTIONS:
                raise InvalidInput("unknown action")
            messages.success(request, _members_action(request, workspace))
        except GridcastError as error:
            messages.error(request, error.message)
        return redirect("members", pk=pk)
    return render(
        request,
        "members.html",
        {
            "workspace": workspace,
            "members": Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__email"),
            "invitations": Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True)
            .select_related("invited_by")
            .order_by("-created_at"),
            "roles": Role.choices,
            "you_are_owner": permissions.workspace_role(request.user, pk) == Role.OWNER,
            "with_two_factor": two_factor.members_with_two_factor(workspace),
        },
    )


# --- the audit log page ----------------------------------------------------------------------------


@login_required
def audit_log(request: HttpRequest, pk: int) -> HttpResponse:
    """A workspace's audit log, for its owners and admins: the events of GET /api/v1/workspaces/<id>/audit/
    (accounts.audit.workspace_events), filtered by the same parameters, a page at a time."""
    permissions.require_workspace(request.user, pk, Access.MANAGE)
    workspace = Workspace.objects.get(pk=pk)
    filters = {name: request.GET.get(name, "") for name in ("actor", "kind", "since", "until")}
    query = urlencode({name: value for name, value in filters.items() if value})
    context = {"workspace": workspace, "kinds": audit.KINDS, "filters": filters, "query": query}
    try:
        events = audit.filtered(audit.workspace_events(pk), request.GET)
        rows, number, more = audit.page_of(events, request.GET)
    except InvalidInput as error:
        return render(request, "audit.html", {**context, "error": error.message, "events": []}, status=400)
    events = [audit.as_dict(event) for event in rows]
    return render(request, "audit.html", {**context, "events": events, "page": number, "more": more})
