"""A real OpenID Connect provider for the single sign-on tests: a small Django project of its own
(django-oauth-toolkit with OIDC, RS256, a SQLite database in a temporary directory), run as a
separate process on loopback by OIDCProvider (tests/oidc_provider/process.py)."""
