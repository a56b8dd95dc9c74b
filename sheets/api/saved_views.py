"""REST API of saved views (/api/v1/sheets/<id>/views/) and footer totals (/totals/)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from sheets import saved_views, selectors
from sheets.services import views as services

from .views import _valid, load_sheet, view_and_filters


class ViewCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    shared = serializers.BooleanField(default=False)
    config = serializers.JSONField(default=dict)


class ViewUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    shared = serializers.BooleanField(required=False)
    config = serializers.JSONField(required=False)


class ProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    column = serializers.CharField()
    message = serializers.CharField()


class ViewSerializer(serializers.Serializer):
    """What a view answers (built by sheets.saved_views.view_dict; here for the schema)."""

    id = serializers.IntegerField()
    sheet = serializers.IntegerField()
    name = serializers.CharField()
    shared = serializers.BooleanField()
    config = serializers.JSONField()
    created_by = serializers.IntegerField(allow_null=True)
    mine = serializers.BooleanField()
    can_change = serializers.BooleanField()
    problems = ProblemSerializer(many=True, help_text="columns the view names that were deleted since")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _answer(request, sheet, access, view):
    return saved_views.view_dict(view, selectors.sheet_columns(sheet), request.user, access)


class ViewList(APIView):
    @extend_schema(responses=ViewSerializer(many=True), description="The sheet's shared views and your personal ones.")
    def get(self, request, pk):
        sheet, access = load_sheet(request, pk)
        columns = selectors.sheet_columns(sheet)
        views = saved_views.views_visible(sheet, request.user)
        return Response([saved_views.view_dict(v, columns, request.user, access) for v in views])

    @extend_schema(
        request=ViewCreateSerializer,
        responses={201: ViewSerializer},
        description="A personal view needs read access; a shared one edit access.",
    )
    def post(self, request, pk):
        sheet, access = load_sheet(request, pk)
        data = _valid(ViewCreateSerializer, request)
        view = services.view_create(sheet=sheet, actor=request.user, access=access, **data)
        return Response(_answer(request, sheet, access, view), status=201)


class ViewDetail(APIView):
    @extend_schema(responses=ViewSerializer)
    def get(self, request, pk, view_id):
        sheet, access = load_sheet(request, pk)
        return Response(_answer(request, sheet, access, saved_views.view_get(sheet, request.user, view_id)))

    @extend_schema(request=ViewUpdateSerializer, responses=ViewSerializer)
    def patch(self, request, pk, view_id):
        sheet, access = load_sheet(request, pk)
        view = saved_views.view_get(sheet, request.user, view_id)
        data = _valid(ViewUpdateSerializer, request)
        view = services.view_update(view=view, actor=request.user, access=access, **data)
        return Response(_answer(request, sheet, access, view))

    @extend_schema(responses={204: None})
    def delete(self, request, pk, view_id):
        sheet, access = load_sheet(request, pk)
        view = saved_views.view_get(sheet, request.user, view_id)
        services.view_delete(view=view, actor=request.user, access=access)
        return Response(status=status.HTTP_204_NO_CONTENT)


class Totals(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("view", int, description="the view whose filters and totals apply"),
            OpenApiParameter("total", str, many=True, description="column:function; these replace the view's totals"),
            OpenApiParameter("filter", str, many=True, description="column:op:value, as for rows"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="Footer totals over every row the filters let through (the whole sheet, not a window).",
    )
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk)
        view, filters, problems = view_and_filters(request, sheet)
        asked = request.query_params.getlist("total")
        totals = dict(raw.partition(":")[::2] for raw in asked) if asked else (view or {}).get("totals", {})
        totals = saved_views.config_check({"totals": totals}, selectors.sheet_columns(sheet))["totals"]
        return Response(
            {
                "version": sheet.version,
                "totals": saved_views.view_totals(sheet, view, totals, filters),
                "problems": problems,
            }
        )
