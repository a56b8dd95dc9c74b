from django.urls import path

from sheets.views import sheet_page

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tokens/", views.tokens, name="tokens"),
    path("account/theme/", views.theme, name="theme"),
    path("sheets/<int:pk>/", sheet_page, name="sheet"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
