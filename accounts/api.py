"""REST API for workspaces, their members and the user's API tokens."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from sheets import permissions
from sheets.permissions import Access
from sheets.selectors import workspaces_for_user

from . import services
from .models import ApiToken, Membership, Workspace


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "created_at", "role"]
        read_only_fields = ["id", "created_at", "role"]

    def get_role(self, workspace):
        return permissions.workspace_role(self.context["request"].user, workspace.pk)


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.label", read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "created_at"]
        read_only_fields = ["created_at"]


class TokenSerializer(serializers.ModelSerializer):
    workspace = serializers.PrimaryKeyRelatedField(queryset=Workspace.objects.all(), required=False, allow_null=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "workspace", "key_prefix", "created_at", "last_used_at"]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at"]


def _workspace(request, pk, needed=Access.VIEW):
    workspace = get_object_or_404(Workspace, pk=pk)
    permissions.require_workspace(request.user, workspace.pk, needed)
    return workspace


class WorkspaceList(APIView):
    @extend_schema(responses=WorkspaceSerializer(many=True))
    def get(self, request):
        workspaces = workspaces_for_user(request.user)
        return Response(WorkspaceSerializer(workspaces, many=True, context={"request": request}).data)

    @extend_schema(request=WorkspaceSerializer, responses={201: WorkspaceSerializer})
    def post(self, request):
        if getattr(request.user, "token_workspace_id", None) is not None:
            return Response(
                {"error": {"code": "forbidden", "message": "a workspace-scoped token cannot create workspaces"}},
                status=status.HTTP_403_FORBIDDEN,
            )
        serializer = WorkspaceSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        workspace = services.workspace_create(name=serializer.validated_data["name"], owner=request.user)
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
        services.workspace_rename(workspace=workspace, name=serializer.validated_data.get("name", workspace.name))
        return Response(WorkspaceSerializer(workspace, context={"request": request}).data)

    def delete(self, request, pk):
        services.workspace_delete(workspace=_workspace(request, pk, Access.OWN))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberList(APIView):
    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, pk):
        workspace = _workspace(request, pk)
        members = workspace.memberships.select_related("user").order_by("user__email")
        return Response(MemberSerializer(members, many=True).data)

    @extend_schema(request=MemberSerializer, responses={201: MemberSerializer})
    def post(self, request, pk):
        workspace = _workspace(request, pk, Access.MANAGE)
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_set(
            workspace=workspace, email=serializer.validated_data["user"]["email"],
            role=serializer.validated_data.get("role", "viewer"),
            by_role=permissions.workspace_role(request.user, workspace.pk),
        )
        return Response(MemberSerializer(membership).data, status=201)


class MemberDetail(APIView):
    @extend_schema(request=MemberSerializer, responses=MemberSerializer)
    def patch(self, request, pk, user_id):
        workspace = _workspace(request, pk, Access.MANAGE)
        membership = get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, user_id=user_id)
        role = request.data.get("role") if isinstance(request.data, dict) else None
        membership = services.membership_set(
            workspace=workspace, email=membership.user.email, role=role,
            by_role=permissions.workspace_role(request.user, workspace.pk),
        )
        return Response(MemberSerializer(membership).data)

    def delete(self, request, pk, user_id):
        workspace = _workspace(request, pk, Access.MANAGE)
        services.membership_remove(
            workspace=workspace, user_id=user_id, by_role=permissions.workspace_role(request.user, workspace.pk)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenList(APIView):
    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request):
        return Response(TokenSerializer(request.user.api_tokens.all(), many=True).data)

    @extend_schema(request=TokenSerializer, responses={201: TokenSerializer})
    def post(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = services.token_create(
            user=request.user, name=serializer.validated_data["name"],
            workspace=serializer.validated_data.get("workspace"),
        )
        return Response({**TokenSerializer(token).data, "key": key}, status=201)


class TokenDetail(APIView):
    def delete(self, request, pk):
        services.token_revoke(user=request.user, token_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
