from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api

from . import comments, find_views, io_views, public_links, saved_views, views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("workspaces/", accounts_api.WorkspaceList.as_view(), name="api-workspaces"),
    path("workspaces/<int:pk>/", accounts_api.WorkspaceDetail.as_view(), name="api-workspace"),
    path("workspaces/<int:pk>/members/", accounts_api.MemberList.as_view(), name="api-members"),
    path("workspaces/<int:pk>/members/<int:user_id>/", accounts_api.MemberDetail.as_view(), name="api-member"),
    path("workspaces/<int:pk>/invitations/", accounts_api.InvitationList.as_view(), name="api-invitations"),
    path(
        "workspaces/<int:pk>/invitations/<int:invitation_id>/",
        accounts_api.InvitationDetail.as_view(),
        name="api-invitation",
    ),
    path(
        "workspaces/<int:pk>/invitations/<int:invitation_id>/resend/",
        accounts_api.InvitationResend.as_view(),
        name="api-invitation-resend",
    ),
    path("workspaces/<int:pk>/audit/", accounts_api.AuditList.as_view(), name="api-audit"),
    path(
        "me/notification-preferences/",
        accounts_api.NotificationPreferences.as_view(),
        name="api-notification-preferences",
    ),
    path("tokens/", accounts_api.TokenList.as_view(), name="api-tokens"),
    path("tokens/<int:pk>/", accounts_api.TokenDetail.as_view(), name="api-token"),
    path("sheets/", views.SheetList.as_view(), name="api-sheets"),
    path("sheets/<int:pk>/", views.SheetDetail.as_view(), name="api-sheet"),
    path("sheets/<int:pk>/share/", views.SheetShare.as_view(), name="api-sheet-share"),
    path("sheets/<int:pk>/public-links/", public_links.SheetPublicLinks.as_view(), name="api-sheet-public-links"),
    path(
        "sheets/<int:pk>/public-links/<int:link_id>/",
        public_links.SheetPublicLinkDetail.as_view(),
        name="api-sheet-public-link",
    ),
    path("public/<str:key>/", public_links.PublicSheet.as_view(), name="api-public-sheet"),
    path("public/<str:key>/rows/", public_links.PublicRows.as_view(), name="api-public-rows"),
    path("sheets/<int:pk>/columns/", views.ColumnList.as_view(), name="api-columns"),
    path("sheets/<int:pk>/columns/<str:key>/", views.ColumnDetail.as_view(), name="api-column"),
    path("sheets/<int:pk>/rows/", views.RowList.as_view(), name="api-rows"),
    path("sheets/<int:pk>/views/", saved_views.ViewList.as_view(), name="api-views"),
    path("sheets/<int:pk>/views/<int:view_id>/", saved_views.ViewDetail.as_view(), name="api-view"),
    path("sheets/<int:pk>/comments/", comments.CommentList.as_view(), name="api-comments"),
    path("sheets/<int:pk>/comments/mentionable/", comments.Mentionable.as_view(), name="api-comments-mentionable"),
    path("sheets/<int:pk>/comments/<int:comment_id>/", comments.CommentDetail.as_view(), name="api-comment"),
    path(
        "sheets/<int:pk>/comments/<int:comment_id>/resolve/",
        comments.CommentResolve.as_view(),
        name="api-comment-resolve",
    ),
    path(
        "sheets/<int:pk>/comments/<int:comment_id>/reopen/", comments.CommentReopen.as_view(), name="api-comment-reopen"
    ),
    path("sheets/<int:pk>/totals/", saved_views.Totals.as_view(), name="api-totals"),
    path("sheets/<int:pk>/rows/delete/", views.RowsDelete.as_view(), name="api-rows-delete"),
    path("sheets/<int:pk>/rows/move/", views.RowsMove.as_view(), name="api-rows-move"),
    path("sheets/<int:pk>/cells/", views.Cells.as_view(), name="api-cells"),
    path("sheets/<int:pk>/cells/paste/", views.CellsPaste.as_view(), name="api-cells-paste"),
    path("sheets/<int:pk>/find/", find_views.SheetFind.as_view(), name="api-sheet-find"),
    path("sheets/<int:pk>/replace/", find_views.SheetReplace.as_view(), name="api-sheet-replace"),
    path("sheets/<int:pk>/operations/", views.Operations.as_view(), name="api-operations"),
    path("sheets/<int:pk>/history/", views.History.as_view(), name="api-sheet-history"),
    path("sheets/<int:pk>/export/", io_views.SheetExport.as_view(), name="api-sheet-export"),
    path("sheets/<int:pk>/import/", io_views.SheetImport.as_view(), name="api-sheet-import"),
    path("workspaces/<int:pk>/import/", io_views.WorkspaceImport.as_view(), name="api-workspace-import"),
    path("imports/<int:pk>/", io_views.ImportJobDetail.as_view(), name="api-import"),
]
