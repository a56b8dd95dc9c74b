"""config.body_limit: a body larger than any Gridcast accepts is refused while it streams, before
Django has read (and stored) it all."""

import asyncio

import pytest
from django.core.asgi import get_asgi_application

from config.body_limit import SLACK, BodyLimit
from sheets.models import ImportJob

CHUNK = 10_000


def feeder(chunks, pulled):
    """An ASGI receive that hands out `chunks` bodies of CHUNK bytes, counting what was pulled."""

    async def receive():
        if pulled["n"] >= chunks:
            await asyncio.sleep(3600)  # the client has nothing more to say
        pulled["n"] += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled["n"] < chunks}

    return receive


def scope(path="/api/v1/workspaces/1/import/", headers=()):
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": list(headers),
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
    }


async def run(app, chunks, headers=()):
    sent, pulled = [], {"n": 0}

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope(headers=headers), feeder(chunks, pulled), send), 30)
    return sent, pulled["n"]


@pytest.fixture
def small_limit(settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_IMPORT_BYTES": 50_000}
    return 50_000 + SLACK


async def test_a_body_growing_past_the_limit_is_refused_at_the_chunk_that_crosses_it(small_limit):
    seen = []

    async def django_like(scope, receive, send):  # reads the whole body first, as Django's handler does
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        if seen[-1] != "http.disconnect":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"stored"})

    sent, pulled = await run(BodyLimit(django_like), chunks=1000)
    assert sent[0]["status"] == 413 and b"too_large" in sent[1]["body"]
    assert pulled == small_limit // CHUNK + 1, "it read on past the limit"
    assert seen[-1] == "http.disconnect" and len(sent) == 2


async def test_a_body_announced_too_large_is_refused_before_a_byte_is_read(small_limit):
    async def never(scope, receive, send):
        raise AssertionError("Django was called")

    sent, pulled = await run(
        BodyLimit(never), chunks=1000, headers=[(b"content-length", str(small_limit + 1).encode())]
    )
    assert sent[0]["status"] == 413 and pulled == 0


@pytest.mark.django_db(transaction=True)
async def test_an_import_streamed_past_the_limit_through_django_stores_nothing(small_limit, tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    jobs = await ImportJob.objects.acount()
    sent, pulled = await run(
        BodyLimit(get_asgi_application()), chunks=1000, headers=[(b"content-type", b"multipart/form-data; boundary=x")]
    )
    assert sent[0]["status"] == 413 and pulled <= small_limit // CHUNK + 1
    assert await ImportJob.objects.acount() == jobs
    assert not list(tmp_path.iterdir())


async def test_a_body_within_the_limit_reaches_django_whole(small_limit):
    bodies = []

    async def echo(scope, receive, send):
        while True:
            message = await receive()
            bodies.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent, pulled = await run(BodyLimit(echo), chunks=3)
    assert sent[0]["status"] == 200 and sum(map(len, bodies)) == 3 * CHUNK
