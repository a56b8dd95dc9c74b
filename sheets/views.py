"""The sheet page: a Django template hosting the Svelte grid."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from .api.serializers import ColumnSerializer
from .models import Sheet
from .permissions import Access, sheet_access
from .selectors import sheet_columns, sheet_people


@login_required
def sheet_page(request, pk):
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
        "limits": {"maxBatchCells": 5000},
    }
    return render(request, "sheet.html", {"sheet": sheet, "config": config})
