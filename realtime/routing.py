"""WebSocket routes. The sheet consumer arrives with the real-time issue."""

websocket_urlpatterns = []
