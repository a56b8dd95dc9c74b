from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("sheets/<int:pk>/", views.sheet_page, name="sheet"),
    path("p/<str:key>/", views.public_page, name="public-link"),
]
