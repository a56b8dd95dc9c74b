"""Production: PostgreSQL and Redis are required, secrets come from the environment."""
import os

from .base import *  # noqa: F403

SECRET_KEY = os.environ["SECRET_KEY"]
if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
    raise RuntimeError("production settings need DATABASE_URL and REDIS_URL")

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)  # noqa: F405
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
