"""The Django admin's login goes through allauth's login limits: the same `login_failed` counters
(per client IP, and per e-mail address) as /accounts/login/, kept in the shared cache, with the
same client IP (ALLAUTH_TRUSTED_PROXY_COUNT). Without this the admin login was an unthrottled way
to guess passwords. config/urls.py installs the form as admin.site.login_form.
An account with two-factor authentication cannot log in here with its password alone: it logs in
at /accounts/login/ (password, then code), after which the admin opens without a second login."""

from allauth.account.adapter import get_adapter
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from .two_factor import has_two_factor


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        adapter = get_adapter(self.request)
        # Raises "Too many failed login attempts" once the IP or the address is over the limit.
        adapter.pre_authenticate(self.request, email=username)
        cleaned = super().clean()
        if self.user_cache is not None and has_two_factor(self.user_cache):
            raise ValidationError(
                "This account uses two-factor authentication: log in at /accounts/login/, then open the admin.",
                code="two_factor",
            )
        # A successful login gives back the attempt it took (as allauth's own login does).
        adapter._rollback_login_failed_rl_usage()
        return cleaned
