"""The pages of sheets: the workspace home page and the sheet page, Django templates hosting Svelte."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.permissions import Access

from .api.serializers import ColumnSerializer
from .models import Sheet
from .permissions import sheet_access
from .selectors import home_for_user, rows_window, sheet_columns, sheet_people

FIRST_ROWS = 100  # one block of the grid's row cache (frontend/src/sheet/model.js)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The workspace home page: a Svelte widget that starts from this data and then uses the API."""
    return render(request, "home.html", {"home": home_for_user(request.user)})


@login_required
def sheet_page(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = get_object_or_404(Sheet.objects.select_related("workspace"), pk=pk)
    access = sheet_access(request.user, sheet)
    if access < Access.VIEW:
        raise Http404("Sheet not found")
    config = {
        "sheet": {"id": sheet.pk, "name": sheet.name, "version": sheet.version, "workspace": sheet.workspace.name},
        "columns": ColumnSerializer(sheet_columns(sheet), many=True).data,
        "access": access.name.lower(),
        "you": {"id": request.user.pk, "name": request.user.label},
        "people": sheet_people(sheet),
        "limits": {"maxBatchCells": settings.GRIDCAST["MAX_BATCH_CELLS"]},
        # The first window comes with the page: the grid draws rows without waiting for a request.
        "firstRows": {"version": sheet.version, **rows_window(sheet, offset=0, limit=FIRST_ROWS)},
    }
    return render(request, "sheet.html", {"sheet": sheet, "config": config})
