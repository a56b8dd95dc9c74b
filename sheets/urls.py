from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("sheets/<int:pk>/", views.sheet_page, name="sheet"),
]
