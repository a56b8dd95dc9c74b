"""The REST API's JSON parser: core.jsonio's rules (bounded nesting, finite numbers, valid
Unicode) for every request body, so that a hostile body is a 400 naming what is wrong."""

from rest_framework import parsers

from core import jsonio


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return jsonio.loads(stream.read() if stream is not None else b"")
