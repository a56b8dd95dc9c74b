"""Pages of the account area: API tokens and the theme setting."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import workspaces_for_user
from core import jsonio
from core.api_errors import json_error
from core.errors import GridcastError, InvalidInput

from . import invitations, services


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
