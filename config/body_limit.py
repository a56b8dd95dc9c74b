"""A request body larger than anything Gridcast accepts is refused while it streams.

Under ASGI, Django reads the whole body (into memory, then a temporary file) before any view or
upload handler runs, so sheets.io.LimitedUpload could only stop the second copy: a client could
still make the server write any amount to disk. BodyLimit sits in front of Django: a body announced
larger than the limit (Content-Length) is answered 413 before a byte is read; one that grows past
it while it streams is answered 413 at the chunk that crosses, and Django is told the client went
away (it then sends nothing). The limit is the largest upload, an import of
GRIDCAST["MAX_IMPORT_BYTES"], plus room for the multipart envelope."""

import json

from django.conf import settings

SLACK = 64 * 1024


def limit() -> int:
    return settings.GRIDCAST["MAX_IMPORT_BYTES"] + SLACK


async def _refuse(send, most):
    body = json.dumps(
        {"error": {"code": "too_large", "message": f"the request body is larger than {most} bytes"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        most = limit()
        announced = dict(scope.get("headers", ())).get(b"content-length")
        if announced is not None and announced.isdigit() and int(announced) > most:
            return await _refuse(send, most)
        received, refused = 0, False

        async def limited_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > most:
                    refused = True
                    await _refuse(send, most)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        return await self.app(scope, limited_receive, guarded_send)
