"""The ASGI application the suite's server processes run: config.asgi's, with Django's and
django-guardian's content-type caches emptied at the start of every connection.

A server process outlives the tests that use it, and `transaction=True` tests flush the database
between them: the content types and permissions are then created again under new ids, and a
long-lived process would go on with the ids it cached (guardian's lookups then fail with
MixedContentTypeError or Permission.DoesNotExist). A production process never sees its content
types renumbered under it, so this exists only here.
"""

from config.asgi import application as gridcast


async def application(scope, receive, send):
    from django.contrib.contenttypes.models import ContentType  # Django is set up by now
    from guardian.shortcuts import clear_ct_cache

    if scope["type"] in ("http", "websocket"):
        ContentType.objects.clear_cache()
        clear_ct_cache()
    return await gridcast(scope, receive, send)
