from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
