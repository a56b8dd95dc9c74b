"""The Django admin's login goes through allauth's login limits: the same `login_failed` counters
(per client IP, and per e-mail address) as /accounts/login/, kept in the shared cache, with the
same client IP (ALLAUTH_TRUSTED_PROXY_COUNT). Without this the admin login was an unthrottled way
to guess passwords. config/urls.py installs the form as admin.site.login_form."""

from allauth.account.adapter import get_adapter
from django.contrib.admin.forms import AdminAuthenticationForm


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
        # A successful login gives back the attempt it took (as allauth's own login does).
        adapter._rollback_login_failed_rl_usage()
        return cleaned
