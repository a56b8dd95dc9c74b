"""Single sign-on (django-allauth social accounts; providers from the environment,
config/settings/sso.py). allauth serves the URLs of every installed provider, configured or not:
asking for one that is not configured (/accounts/github/login/ without GitHub's client id, an
unknown OpenID Connect id) raised SocialApp.DoesNotExist, a 500. It is a page not found."""

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults


class UnconfiguredProviderNotFound:
    """Middleware: a provider without configuration is not found (404), not a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from allauth.socialaccount.models import SocialApp

        if isinstance(exception, SocialApp.DoesNotExist):
            return defaults.page_not_found(request, Http404("no such sign-in provider"))
        return None
