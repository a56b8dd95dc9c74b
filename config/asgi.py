"""ASGI entry point: HTTP goes to Django, WebSocket to the realtime routes."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.body_limit import BodyLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from realtime.auth import TokenOrSessionAuth  # noqa: E402

application = ProtocolTypeRouter(
    {"http": BodyLimit(django_asgi_app), "websocket": TokenOrSessionAuth(URLRouter(websocket_urlpatterns))}
)

# A server process holds thousands of long-lived objects per hundred connections, and CPython's
# full collections scan them all: with 1,000 connections they paused the event loop for 100-200 ms
# several times a minute (the p99 of delivery, measured with bench/fanout.py). What is loaded by
# now lives as long as the process: it is frozen out of collection. Young collections come every
# 10,000 net allocations instead of 700, and full ones after 50 × 50 of them: a few hundred times less often.
gc.freeze()
gc.set_threshold(10_000, 50, 50)
