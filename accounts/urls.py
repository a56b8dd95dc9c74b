from django.urls import path

from . import views

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("account/theme/", views.theme, name="theme"),
    path("account/notifications/", views.notifications, name="account-notifications"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("invitations/<str:key>/", views.invitation_accept, name="invitation-accept"),
    path("workspaces/<int:pk>/members/", views.members, name="members"),
    path("workspaces/<int:pk>/audit/", views.audit_log, name="audit"),
]
