"""REST for public read-only links of a sheet: publish, list the active ones, revoke. Owners and
admins of the sheet's workspace only (sheets.public_links has the rules)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from sheets import public_links
from sheets.models import PublicLink
from sheets.selectors import sheet_columns

from .serializers import ColumnSerializer
from .views import load_sheet, rows_answer


class PublicLinkSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.label", read_only=True, default=None)

    class Meta:
        model = PublicLink
        fields = ["id", "url", "access", "created_at", "created_by"]

    def get_url(self, link: PublicLink) -> str:
        return public_url(self.context["request"], link)


class PublicLinkCreateSerializer(serializers.Serializer):
    access = serializers.ChoiceField(
        choices=[PublicLink.ACCESS_VIEW],
        help_text='"view": the only access a public link gives.',
        error_messages={"invalid_choice": public_links.ACCESS_MESSAGE},
    )


class PublicSheetSerializer(serializers.Serializer):
    """What a public page may know of its sheet: no workspace, no people."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    columns = serializers.SerializerMethodField()
    access = serializers.SerializerMethodField()

    def get_columns(self, sheet) -> list[dict]:
        return ColumnSerializer(sheet_columns(sheet), many=True).data

    def get_access(self, sheet) -> str:
        return "view"


def public_url(request: Request, link: PublicLink) -> str:
    """The absolute url of a link, as its owners see it again."""
    return request.build_absolute_uri(reverse("public-link", args=[link.key]))


class SheetPublicLinks(APIView):
    @extend_schema(responses=PublicLinkSerializer(many=True), description="The sheet's active public links.")
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        links = public_links.public_links_active(workspace=sheet.workspace, sheet=sheet)
        return Response(PublicLinkSerializer(links, many=True, context={"request": request}).data)

    @extend_schema(
        request=PublicLinkCreateSerializer,
        responses={201: PublicLinkSerializer},
        description="Publish the sheet read-only: anyone with the url sees it live, without an account.",
    )
    def post(self, request, pk):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        serializer = PublicLinkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link = public_links.public_link_create(
            workspace=sheet.workspace, sheet=sheet, access=serializer.validated_data["access"], created_by=request.user
        )
        return Response(PublicLinkSerializer(link, context={"request": request}).data, status=status.HTTP_201_CREATED)


class SheetPublicLinkDetail(APIView):
    @extend_schema(responses={204: None}, description="Revoke the link: its url answers 410, open viewers are closed.")
    def delete(self, request, pk, link_id):
        sheet, _ = load_sheet(request, pk, Access.MANAGE)
        link = public_links.public_link_of(workspace=sheet.workspace, sheet=sheet, link_id=link_id)
        public_links.public_link_revoke(link=link)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- what a public sheet page reads, with no account (the key in the url is the credential) -------


class _PublicRead(APIView):
    """Anyone with the url: no session or token is looked at, and each client IP is held to the
    "public" rate (core.throttling)."""

    authentication_classes = ()
    permission_classes = ()
    throttle_scope = "public"

    def link(self, key: str) -> PublicLink:
        return public_links.public_link_for_key(key)


class PublicSheet(_PublicRead):
    @extend_schema(responses=PublicSheetSerializer, description="The published sheet's name, version and columns.")
    def get(self, request, key):
        return Response(PublicSheetSerializer(self.link(key).sheet).data)


class PublicRows(_PublicRead):
    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("filter", str, many=True, description="column:op:value, as for a member's rows"),
            OpenApiParameter("sort", str, description="column key, '-' in front for descending"),
        ],
        responses=OpenApiTypes.OBJECT,
        description="A window of the published sheet's rows, as GET /api/v1/sheets/<id>/rows/ answers.",
    )
    def get(self, request, key):
        return Response(rows_answer(request, self.link(key).sheet))
