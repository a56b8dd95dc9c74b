"""REST API for workspaces, their members and the user's API tokens."""

from django.db import transaction
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from core import exports
from core.errors import InvalidInput, NotFound, PermissionDenied

from . import audit, invitations, notification_preferences, permissions, services
from .models import (
    METRIC_RETENTION_MAX_DAYS,
    METRIC_RETENTION_MESSAGE,
    METRIC_RETENTION_MIN_DAYS,
    ApiToken,
    Invitation,
    Membership,
    Workspace,
)
from .permissions import Access
from .selectors import workspaces_for_user


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Token gc_...` in the OpenAPI schema (registered on import)."""

    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "API token, sent as `Token gc_...` (or `Bearer gc_...`).",
        }


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    metric_retention_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=METRIC_RETENTION_MIN_DAYS,
        max_value=METRIC_RETENTION_MAX_DAYS,
        error_messages={
            kind: METRIC_RETENTION_MESSAGE for kind in ("invalid", "min_value", "max_value", "max_string_length")
        },
        help_text=f"Days raw metric events are kept ({METRIC_RETENTION_MIN_DAYS} to {METRIC_RETENTION_MAX_DAYS}; "
        "null: forever). Older events are deleted by the analytics worker once the per-minute and per-hour rollups "
        "hold them; charts over older ranges answer from the rollups (no second buckets, no tags without a column "
        "of their own, no raw export). Owners and admins set it.",
    )

    class Meta:
        model = Workspace
        fields = ["id", "name", "created_at", "role", "require_two_factor", "metric_retention_days"]
        read_only_fields = ["id", "created_at", "role"]
        extra_kwargs = {
            "require_two_factor": {
                "help_text": "Members without an authenticator app or a security key get nothing of the "
                "workspace (403). Owners and admins set it; turning it on needs two-factor on your own account."
            }
        }

    def get_role(self, workspace) -> str | None:
        return permissions.workspace_role(self.context["request"].user, workspace.pk)


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.label", read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "created_at"]
        read_only_fields = ["created_at"]


class InviteAnswerSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Membership._meta.get_field("role").choices)
    detail = serializers.CharField(help_text="The same for every address: whether it has an account is not told.")


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership._meta.get_field("role").choices)


class TokenSerializer(serializers.ModelSerializer):
    # A plain id, resolved with the caller's access: a workspace one cannot see reads as missing.
    workspace = serializers.IntegerField(source="workspace_id", required=False, allow_null=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "workspace", "key_prefix", "created_at", "last_used_at"]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at"]


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The secret, shown only in this response.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


def _workspace(request, pk, needed=Access.VIEW):
    # Checked before loading, and the same message either way: no existence leak.
    permissions.require_workspace(request.user, pk, needed)
    workspace = Workspace.objects.filter(pk=pk).first()
    if workspace is None:
        raise NotFound("Workspace not found")
    return workspace


def _tokens(user):
    """The caller's tokens; a workspace-scoped token sees only the tokens of its workspace."""
    tokens = user.api_tokens.all()
    scope = getattr(user, "token_workspace_id", None)
    return tokens if scope is None else tokens.filter(workspace_id=scope)


class WorkspaceList(APIView):
    @extend_schema(responses=WorkspaceSerializer(many=True))
    def get(self, request):
        workspaces = workspaces_for_user(request.user)
        return Response(WorkspaceSerializer(workspaces, many=True, context={"request": request}).data)

    @extend_schema(request=WorkspaceSerializer, responses={201: WorkspaceSerializer})
    def post(self, request):
        if getattr(request.user, "token_workspace_id", None) is not None:
            raise PermissionDenied("a workspace-scoped token cannot create workspaces")
        serializer = WorkspaceSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            workspace = services.workspace_create(name=serializer.validated_data["name"], owner=request.user)
            if serializer.validated_data.get("require_two_factor"):
                services.workspace_two_factor_set(workspace=workspace, required=True, by_user=request.user)
            if serializer.validated_data.get("metric_retention_days") is not None:
                services.workspace_metric_retention_set(
                    workspace=workspace, days=serializer.validated_data["metric_retention_days"]
                )
        return Response(WorkspaceSerializer(workspace, context={"request": request}).data, status=201)


class WorkspaceDetail(APIView):
    @extend_schema(responses=WorkspaceSerializer)
    def get(self, request, pk):
        return Response(WorkspaceSerializer(_workspace(request, pk), context={"request": request}).data)

    @extend_schema(request=WorkspaceSerializer, responses=WorkspaceSerializer)
    def patch(self, request, pk):
        workspace = _workspace(request, pk, Access.MANAGE)
        serializer = WorkspaceSerializer(workspace, data=request.data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            services.workspace_rename(workspace=workspace, name=data.get("name", workspace.name))
            if "require_two_factor" in data:
                services.workspace_two_factor_set(
                    workspace=workspace, required=data["require_two_factor"], by_user=request.user
                )
            if "metric_retention_days" in data:
                services.workspace_metric_retention_set(workspace=workspace, days=data["metric_retention_days"])
        return Response(WorkspaceSerializer(workspace, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        services.workspace_delete(workspace=_workspace(request, pk, Access.OWN))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberList(APIView):
    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, pk):
        workspace = _workspace(request, pk)
        members = workspace.memberships.select_related("user").order_by("user__email")
        return Response(MemberSerializer(members, many=True).data)

    @extend_schema(
        request=MemberSerializer,
        responses={202: InviteAnswerSerializer},
        description="Give an e-mail address a role in the workspace. The account that has verified the address "
        "becomes a member (or gets the role) now; without one, the role waits until an account verifies "
        "the address. The answer is the same 202 either way: it never tells whether the address has an "
        "account.",
    )
    def post(self, request, pk):
        workspace = _workspace(request, pk, Access.MANAGE)
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = invitations.invite_member(
            workspace=workspace,
            email=serializer.validated_data["user"]["email"],
            role=serializer.validated_data.get("role", "viewer"),
            by_role=permissions.workspace_role(request.user, workspace.pk),
            invited_by=request.user,
        )
        return Response(answer, status=status.HTTP_202_ACCEPTED)


class MemberDetail(APIView):
    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def patch(self, request, pk, user_id):
        workspace = _workspace(request, pk, Access.MANAGE)
        membership = Membership.objects.select_related("user").filter(workspace=workspace, user_id=user_id).first()
        if membership is None:
            raise NotFound("member not found")
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_set(
            workspace=workspace,
            email=membership.user.email,
            role=serializer.validated_data["role"],
            by_role=permissions.workspace_role(request.user, workspace.pk),
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk, user_id):
        workspace = _workspace(request, pk, Access.MANAGE)
        services.membership_remove(
            workspace=workspace, user_id=user_id, by_role=permissions.workspace_role(request.user, workspace.pk)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- invitations by e-mail ------------------------------------------------------------------------


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.CharField(source="invited_by.label", read_only=True, default=None)
    expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "sent_at", "expires_at", "expired"]


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Membership._meta.get_field("role").choices, default="viewer")


class InvitationList(APIView):
    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request, pk):
        workspace = _workspace(request, pk, Access.MANAGE)
        pending = (
            Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True)
            .select_related("invited_by")
            .order_by("-created_at")
        )
        return Response(InvitationSerializer(pending, many=True).data)

    @extend_schema(
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer},
        description="Invite an e-mail address to the workspace with a role: a pending invitation, e-mailed with "
        "a link that works for GRIDCAST_INVITATION_DAYS days. The answer is the same 201 whether or not an "
        "account has the address. The invitee joins by opening the link, or by signing up or logging in "
        "with the address verified.",
    )
    def post(self, request, pk):
        workspace = _workspace(request, pk, Access.MANAGE)
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = invitations.invitation_send(
            workspace=workspace,
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            by_role=permissions.workspace_role(request.user, workspace.pk),
            invited_by=request.user,
            accept_url=invitations.links_for(request),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetail(APIView):
    @extend_schema(responses={204: None}, description="Revoke a pending invitation: its link stops working.")
    def delete(self, request, pk, invitation_id):
        workspace = _workspace(request, pk, Access.MANAGE)
        invitations.invitation_revoke(invitation=invitations.workspace_invitation(workspace, invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationResend(APIView):
    @extend_schema(request=None, responses=InvitationSerializer, description="E-mail a new link with a new expiry.")
    def post(self, request, pk, invitation_id):
        workspace = _workspace(request, pk, Access.MANAGE)
        invitation = invitations.invitation_resend(
            invitation=invitations.workspace_invitation(workspace, invitation_id),
            accept_url=invitations.links_for(request),
        )
        return Response(InvitationSerializer(invitation).data)


class TokenList(APIView):
    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request):
        return Response(TokenSerializer(_tokens(request.user), many=True).data)

    @extend_schema(request=TokenSerializer, responses={201: NewTokenSerializer})
    def post(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workspace_id = serializer.validated_data.get("workspace_id")
        token, key = services.token_create(
            user=request.user,
            name=serializer.validated_data["name"],
            workspace=_workspace(request, workspace_id) if workspace_id is not None else None,
        )
        token.key = key
        return Response(NewTokenSerializer(token).data, status=201)


class TokenDetail(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        services.token_revoke(user=request.user, token_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the user's notification preferences ----------------------------------------------------------


def _channel_field(kind):
    return serializers.ChoiceField(
        choices=notification_preferences.Channel.choices, required=False, help_text=kind.label
    )


class NotificationPreferencesSerializer(serializers.Serializer):
    """One channel per kind: in_app (the bell), email, both or none."""

    mention = _channel_field(notification_preferences.Kind.MENTION)
    reply = _channel_field(notification_preferences.Kind.REPLY)
    alert = _channel_field(notification_preferences.Kind.ALERT)
    invitation = _channel_field(notification_preferences.Kind.INVITATION)


class NotificationPreferences(APIView):
    @extend_schema(responses=NotificationPreferencesSerializer)
    def get(self, request):
        return Response(notification_preferences.preferences_of(request.user))

    @extend_schema(
        request=NotificationPreferencesSerializer,
        responses=NotificationPreferencesSerializer,
        description="Set the channels of the kinds given (the others keep theirs); an unknown kind or "
        "channel is refused and nothing is changed. Answers every kind's channel.",
    )
    def put(self, request):
        return Response(notification_preferences.preferences_set(user=request.user, changes=request.data))


# --- the audit log --------------------------------------------------------------------------------


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=list(audit.KINDS))
    label = serializers.CharField()
    created_at = serializers.DateTimeField()
    actor = serializers.IntegerField(allow_null=True, help_text="the acting user's id (null: none, or deleted)")
    actor_email = serializers.CharField(help_text="the actor's address then; for a failed login, the address tried")
    ip = serializers.IPAddressField(allow_null=True)
    workspace = serializers.IntegerField(allow_null=True, help_text="null for an account event (a login...)")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target = serializers.CharField()
    details = serializers.DictField()


class AuditPageSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AuditEventSerializer(many=True)


def wants_csv(request: Request) -> bool:
    kind = request.query_params.get("format")
    if kind not in (None, "", "json", "csv"):
        raise InvalidInput("format must be json or csv")
    return kind == "csv" or (not kind and "text/csv" in request.META.get("HTTP_ACCEPT", ""))


class AuditList(APIView):
    content_negotiation_class = exports.FormatIsNotARenderer

    @extend_schema(
        parameters=[
            OpenApiParameter("actor", str, description="a user id or an e-mail address"),
            OpenApiParameter("kind", str, many=True, enum=list(audit.KINDS), description="repeated or comma-separated"),
            OpenApiParameter("since", str, description="ISO date or date-time (inclusive)"),
            OpenApiParameter("until", str, description="ISO date (that whole day) or date-time (inclusive)"),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int, description=f"at most {audit.MAX_PAGE_SIZE}"),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: every matching event, as a file"),
        ],
        responses={200: AuditPageSerializer, (200, "text/csv"): OpenApiTypes.BINARY},
        description="The workspace's audit log, newest first, for its owners and admins: the workspace's events "
        "and the account events (logins, failed logins, logouts, MFA changes, tokens without a workspace) of its "
        "current members. `?format=csv` (or `Accept: text/csv`) downloads every matching event.",
    )
    def get(self, request, pk):
        _workspace(request, pk, Access.MANAGE)
        events = audit.filtered(audit.workspace_events(pk), request.query_params)
        if wants_csv(request):
            audit.record("export", workspace=pk, target="audit log", format="csv")
            chunks = audit.csv_chunks(events)
            return exports.download(request, kind="csv", filename=f"gridcast-audit-{pk}.csv", chunks=chunks)
        rows, number, more = audit.page_of(events, request.query_params)
        url = request.build_absolute_uri()
        previous = None
        if number > 1:
            previous = replace_query_param(url, "page", number - 1) if number > 2 else remove_query_param(url, "page")
        return Response(
            {
                "page": number,
                "next": replace_query_param(url, "page", number + 1) if more else None,
                "previous": previous,
                "results": AuditEventSerializer([audit.as_dict(event) for event in rows], many=True).data,
            }
        )
