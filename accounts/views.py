"""Pages of the account area. The rich workspace pages arrive with the browser issue."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from sheets.selectors import sheets_for_user, workspaces_for_user


@login_required
def home(request):
    workspaces = workspaces_for_user(request.user)
    return render(request, "home.html", {"workspaces": workspaces, "sheets": sheets_for_user(request.user)})


@login_required
def tokens(request):
    return render(request, "tokens.html", {"tokens": request.user.api_tokens.all()})
