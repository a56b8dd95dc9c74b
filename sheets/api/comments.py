"""REST API of comments (/api/v1/sheets/<id>/comments/...): parse, check, call one service. Who may
do what is in sheets.comments; a comment of another sheet, or of a sheet the person cannot see, is 404."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.jsonio import INT64
from core.params import int_param
from sheets import comments
from sheets.services import comments as services

from .views import _valid, load_sheet

_ID = {"min_value": 1, "max_value": INT64 - 1}


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)
    row = serializers.IntegerField(required=False, help_text="a new thread: the row's id", **_ID)
    col = serializers.CharField(
        required=False, allow_blank=True, max_length=16, help_text='a new thread: the column key, "" for the row'
    )
    thread = serializers.IntegerField(required=False, help_text="a reply: the thread's first comment", **_ID)
    mentions = serializers.ListField(child=serializers.IntegerField(**_ID), required=False, max_length=1000)

    def validate(self, data):
        if "thread" not in data and "row" not in data:
            raise serializers.ValidationError("give row (and col) for a new thread, or thread for a reply")
        return data


class CommentUpdateSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)
    mentions = serializers.ListField(child=serializers.IntegerField(**_ID), required=False, max_length=1000)


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CommentSerializer(serializers.Serializer):
    """What a comment answers (built by sheets.comments.comment_dict; here for the schema)."""

    id = serializers.IntegerField()
    sheet = serializers.IntegerField()
    row = serializers.IntegerField()
    col = serializers.CharField(help_text='"" : a comment on the whole row')
    thread = serializers.IntegerField(allow_null=True, help_text="null: the thread's first comment")
    author = PersonSerializer(allow_null=True)
    body = serializers.CharField()
    mentions = PersonSerializer(many=True)
    resolved = serializers.BooleanField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = PersonSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)


class MentionableSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()


def _resolved_param(request):
    raw = request.query_params.get("resolved")
    if raw is None:
        return None
    return bool(int_param(request.query_params, "resolved", 0, low=0, high=1))


class CommentList(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("row", int, description="only this row's comments (its cells' and its own)"),
            OpenApiParameter("col", str, description="with row: only this cell's (\"\" : the row's own)"),
            OpenApiParameter("resolved", int, enum=[0, 1], description="1: resolved threads only, 0: open ones"),
            OpenApiParameter("threads", int, description="a page: at most this many threads (1 to 1000)"),
            OpenApiParameter("after", int, description="a page: the threads after this first comment's id"),
        ],
        responses=CommentSerializer(many=True),
        description="The sheet's comments, each thread's first comment followed by its replies (all of them, "
        "or a page of `threads` threads after `after`). Everyone who can see the sheet reads them.",
    )
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk)
        row = int_param(request.query_params, "row", None, low=1)
        col = request.query_params.get("col")
        if col is not None and (len(col) > 16 or "\x00" in col):
            col = "~"  # no column key is that long: nothing matches
        found = comments.comments_of(
            sheet,
            row=row,
            col=col,
            resolved=_resolved_param(request),
            after=int_param(request.query_params, "after", None, low=0),
            threads=int_param(request.query_params, "threads", None, low=1, high=1000),
        )
        return Response(comments.comments_dicts(found))

    @extend_schema(
        request=CommentCreateSerializer,
        responses={201: CommentSerializer},
        description="A new thread on a cell or row (row, col), or a reply (thread). Editors and above. "
        "mentions: ids of people who can see the sheet (GET .../comments/mentionable/).",
    )
    def post(self, request, pk):
        sheet, access = load_sheet(request, pk)
        data = _valid(CommentCreateSerializer, request)
        comment = services.comment_create(sheet=sheet, actor=request.user, access=access, **data)
        return Response(comments.comment_dict(comment), status=status.HTTP_201_CREATED)


class CommentDetail(APIView):
    @extend_schema(responses=CommentSerializer)
    def get(self, request, pk, comment_id):
        sheet, _ = load_sheet(request, pk)
        return Response(comments.comment_dict(comments.comment_get(sheet, comment_id)))

    @extend_schema(request=CommentUpdateSerializer, responses=CommentSerializer, description="Its author only.")
    def patch(self, request, pk, comment_id):
        sheet, access = load_sheet(request, pk)
        comment = comments.comment_get(sheet, comment_id)
        data = _valid(CommentUpdateSerializer, request)
        comment = services.comment_update(comment=comment, actor=request.user, access=access, **data)
        return Response(comments.comment_dict(comment))

    @extend_schema(
        responses={204: None},
        description="Its author, an admin or an owner; the thread's first comment takes its replies.",
    )
    def delete(self, request, pk, comment_id):
        sheet, access = load_sheet(request, pk)
        services.comment_delete(comment=comments.comment_get(sheet, comment_id), actor=request.user, access=access)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _Resolution(APIView):
    resolved = True

    @extend_schema(request=None, responses=CommentSerializer, description="Editors and above; of the whole thread.")
    def post(self, request, pk, comment_id):
        sheet, access = load_sheet(request, pk)
        comment = comments.comment_get(sheet, comment_id)
        root = services.comment_resolve(comment=comment, actor=request.user, access=access, resolved=self.resolved)
        return Response(comments.comment_dict(root))


class CommentResolve(_Resolution):
    resolved = True


class CommentReopen(_Resolution):
    resolved = False


class Mentionable(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="part of a name or an address"),
            OpenApiParameter("limit", int, description="default 10, at most 50"),
        ],
        responses=MentionableSerializer(many=True),
        description="The people who can see the sheet, for the @ of the comment box.",
    )
    def get(self, request, pk):
        sheet, _ = load_sheet(request, pk)
        query = (request.query_params.get("q") or "").strip()[:100].replace("\x00", "")
        most = int_param(request.query_params, "limit", 10, low=1, high=50)
        found = comments.mentionable(sheet, query, most)
        return Response([{"id": u.pk, "name": u.label, "email": u.email} for u in found])
