"""The pages of sheets: the workspace home page, the sheet page and a public link's page (/p/<key>/),
Django templates hosting Svelte."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from accounts.permissions import Access
from core.errors import InvalidInput, NotFound
from core.throttling import request_hit_wait

from . import saved_views
from .api.serializers import ColumnSerializer
from .models import PublicLink, Sheet
from .permissions import sheet_access
from .public_links import PAGES, LinkRevoked, public_link_for_key
from .selectors import home_for_user, recompute_progress, sheet_columns, sheet_people
from .services.recompute import sheet_opened

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
    sheet_opened(sheet.pk)
    config = {
        "sheet": {"id": sheet.pk, "name": sheet.name, "version": sheet.version, "workspace": sheet.workspace.name},
        "recompute": recompute_progress(sheet),
        "columns": ColumnSerializer(sheet_columns(sheet), many=True).data,
        "access": access.name.lower(),
        "you": {"id": request.user.pk, "name": request.user.label},
        "people": sheet_people(sheet),
        "limits": {
            "maxBatchCells": settings.GRIDCAST["MAX_BATCH_CELLS"],
            "maxImportBytes": settings.GRIDCAST["MAX_IMPORT_BYTES"],
        },
        **first_rows(request, sheet, access),
    }
    return render(request, "sheet.html", {"sheet": sheet, "config": config})


def first_rows(request: HttpRequest, sheet: Sheet, access: Access) -> dict:
    """The first window of rows, embedded in the page so the grid draws without waiting for a
    request: what GET .../rows/?offset=0 answers for the url's view, sort and filters (read by the
    same function, permission-checked the same way). {"firstRows": {version, rows, total, problems?,
    scope}, "view": the saved view or None}; scope is the query the rows answer (the client's
    starting view). A view or filter the url names and the user may not use is left out here (the
    page says so) rather than failing the page."""
    scope = {
        "view": request.GET.get("view") or None,
        "sort": request.GET.get("sort") or None,
        "filters": request.GET.getlist("filter"),
    }
    try:
        answer = saved_views.rows_answer(
            sheet,
            request.user,
            limit=FIRST_ROWS,
            view_id=scope["view"],
            raw_filters=scope["filters"],
            sort=scope["sort"],
        )
        view = saved_views.view_get(sheet, request.user, scope["view"]) if scope["view"] else None
    except (InvalidInput, NotFound):
        scope = {"view": None, "sort": None, "filters": []}
        answer, view = saved_views.rows_answer(sheet, request.user, limit=FIRST_ROWS), None
    scope["view"] = view.pk if view else None
    scope["filters"] = saved_views.filters_parsed(scope["filters"])
    columns = sheet_columns(sheet)
    return {
        "firstRows": {**answer, "scope": scope},
        "view": saved_views.view_dict(view, columns, request.user, access) if view else None,
    }


def public_page(request: HttpRequest, key: str) -> HttpResponse:
    """/p/<key>/: the published sheet, read-only and live, for anyone with the url (no login). It
    shows the sheet and nothing else of its workspace: no people, no history, no navigation. A
    link of another kind (a dashboard) is answered by the page its app registered (PAGES)."""
    wait = request_hit_wait(request, "public")
    if wait is not None:
        message = "Too many requests from here: try again in a minute."
        response = render(request, "public_ended.html", {"message": message}, status=429)
        response["Retry-After"] = str(max(1, round(wait)))
        return _public_headers(response)
    try:
        link = public_link_for_key(key, kind=None)
    except NotFound:
        raise Http404("Link not found") from None
    except LinkRevoked as error:
        return _public_headers(render(request, "public_ended.html", {"message": error.message}, status=error.status))
    if link.kind != PublicLink.Kind.SHEET:
        page = PAGES.get(link.kind)
        if page is None:
            raise Http404("Link not found")
        return _public_headers(page(request, link))
    sheet = link.sheet
    config = {
        "sheet": {"id": sheet.pk, "name": sheet.name, "version": sheet.version, "workspace": ""},
        "columns": ColumnSerializer(sheet_columns(sheet), many=True).data,
        "access": "view",
        "you": {"id": None, "name": "Guest"},
        "people": {},
        "limits": {"maxBatchCells": settings.GRIDCAST["MAX_BATCH_CELLS"]},
        "firstRows": {**saved_views.rows_answer(sheet, AnonymousUser(), limit=FIRST_ROWS), "scope": None},
        # Where a public page reads and listens instead of the member endpoints.
        "public": {
            "socket": f"/ws/public/{key}/",
            "sheet": reverse("api-public-sheet", args=[key]),
            "rows": reverse("api-public-rows", args=[key]),
        },
    }
    return _public_headers(render(request, "sheet.html", {"sheet": sheet, "config": config, "frame": "public.html"}))


def _public_headers(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the key never leaves in a Referer
    response["Cache-Control"] = "no-store"  # a revoked link's page is not shown again from a cache
    return response
