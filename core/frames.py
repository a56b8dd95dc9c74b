"""Frames the server sends over its sockets and streams: each frame type declares its fields (a
schema that forbids extra keys, checked by the tests on every frame they receive, and rendered into
the docs), and encode() turns a frame into JSON text or refuses it: never str() of a value.

Apps register their frame types in a `frames` module of their own (realtime/frames.py,
analytics/frames.py); load_registries() imports them all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonio
from .errors import GridcastError


class FrameInvalid(ValueError):
    """A frame does not match its type's schema; the message says where."""


class Unencodable(TypeError):
    """A value JSON cannot represent exactly (a date, a set, a Decimal, NaN, Infinity)."""


# --- errors --------------------------------------------------------------------------------------

_ABSENT = object()
SERVER_FAILED = "the server failed; retry"


def error_frame(error: GridcastError | str, message: str = "", *, op_id: Any = _ABSENT, **extra: Any) -> dict:
    """The `error` frame of every socket, shaped here only: a domain error's code, message and
    details, or a code and its message; `op_id` (when given, even None) names the write it answers,
    `extra` adds or overrides fields (the frame type a limit refused, a code)."""
    frame: dict[str, Any] = {"type": "error"}
    if op_id is not _ABSENT:
        frame["op_id"] = op_id
    frame.update(error.as_dict() if isinstance(error, GridcastError) else {"code": error, "message": message})
    frame.update(extra)
    return frame


# --- encoding ------------------------------------------------------------------------------------


def encode(frame: Any) -> str:
    """Compact JSON text of `frame` (UTF-8 as is). Unencodable for a value JSON has no exact form
    for: anything but dict, list, tuple, str, int, float, bool and None, and NaN or Infinity (as
    core.jsonio refuses them in what comes in). Dict keys that are not text are checked by the
    schemas (the encoder would turn them into text)."""
    try:
        return jsonio.dumps_exact(frame)
    except (TypeError, ValueError) as error:  # a value of no JSON form; NaN, Infinity, a circular reference
        raise Unencodable(f"{error}: convert it before it goes into a frame") from None


# --- field types ---------------------------------------------------------------------------------


def _at(path: str) -> str:
    return path or "the frame"


class FieldType:
    """The type of one value in a frame."""

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def parts(self) -> tuple:
        """The types inside this one (for the docs)."""
        return ()


@dataclass(frozen=True)
class Scalar(FieldType):
    name: str
    kinds: tuple

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) and bool not in self.kinds:
            raise FrameInvalid(f"{_at(path)}: {self.name} expected, got a boolean")
        if not isinstance(value, self.kinds):
            raise FrameInvalid(f"{_at(path)}: {self.name} expected, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise FrameInvalid(f"{_at(path)}: {value} is not a JSON number")

    def describe(self) -> str:
        return self.name


class Json(FieldType):
    """Any JSON value (a cell value, a client's echoed `t`, an aggregate's result)."""

    def __init__(self, name: str = "json") -> None:
        self.name = name

    def check(self, value: Any, path: str) -> None:
        stack = [(value, path)]
        while stack:
            node, where = stack.pop()
            if isinstance(node, dict):
                for key, item in node.items():
                    if not isinstance(key, str):
                        raise FrameInvalid(f"{_at(where)}: key {key!r} is not text")
                    stack.append((item, f"{where}.{key}"))
            elif isinstance(node, list):
                stack.extend((item, f"{where}[{n}]") for n, item in enumerate(node))
            elif not (node is None or isinstance(node, (str, int, float))):
                raise FrameInvalid(f"{_at(where)}: {type(node).__name__} is not a JSON value")
            elif isinstance(node, float) and not math.isfinite(node):
                raise FrameInvalid(f"{_at(where)}: {node} is not a JSON number")

    def describe(self) -> str:
        return self.name


INT = Scalar("int", (int,))
NUMBER = Scalar("number", (int, float))
STR = Scalar("str", (str,))
BOOL = Scalar("bool", (bool,))
NULL = Scalar("null", (type(None),))
JSON = Json()
SCALAR = Scalar("str | number | bool | null", (str, int, float, bool, type(None)))


@dataclass(frozen=True)
class Literal(FieldType):
    values: tuple

    def check(self, value: Any, path: str) -> None:
        if not any(value == allowed and type(value) is type(allowed) for allowed in self.values):
            raise FrameInvalid(f"{_at(path)}: one of {', '.join(map(repr, self.values))} expected, got {value!r:.60}")

    def describe(self) -> str:
        return " | ".join(json.dumps(v) for v in self.values)


def literal(*values: Any) -> Literal:
    return Literal(tuple(values))


@dataclass(frozen=True)
class OneOf(FieldType):
    choices: tuple

    def check(self, value: Any, path: str) -> None:
        problems = []
        for choice in self.choices:
            try:
                choice.check(value, path)
                return
            except FrameInvalid as error:
                problems.append(str(error))
        raise FrameInvalid(" / ".join(problems))

    def describe(self) -> str:
        return " | ".join(choice.describe() for choice in self.choices)

    def parts(self) -> tuple:
        return self.choices


def one_of(*choices: FieldType) -> OneOf:
    return OneOf(tuple(choices))


def nullable(of: FieldType) -> OneOf:
    return OneOf((of, NULL))


@dataclass(frozen=True)
class ListOf(FieldType):
    of: FieldType

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise FrameInvalid(f"{_at(path)}: a list expected, got {type(value).__name__}")
        for n, item in enumerate(value):
            self.of.check(item, f"{path}[{n}]")

    def describe(self) -> str:
        return f"[{self.of.describe()}]"

    def parts(self) -> tuple:
        return (self.of,)


@dataclass(frozen=True)
class MapOf(FieldType):
    """An object with text keys (ids written as text) and values of one type."""

    of: FieldType
    keys: str = "str"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise FrameInvalid(f"{_at(path)}: an object expected, got {type(value).__name__}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise FrameInvalid(f"{_at(path)}: key {key!r} is not text")
            self.of.check(item, f"{path}.{key}")

    def describe(self) -> str:
        return f"{{{self.keys}: {self.of.describe()}}}"

    def parts(self) -> tuple:
        return (self.of,)


@dataclass(frozen=True)
class Optional(FieldType):
    """A field that may be left out (a present value has the type `of`)."""

    of: FieldType

    def check(self, value: Any, path: str) -> None:
        self.of.check(value, path)

    def describe(self) -> str:
        return self.of.describe()

    def parts(self) -> tuple:
        return (self.of,)


def optional(of: FieldType) -> Optional:
    return Optional(of)


@dataclass(frozen=True)
class Depends(FieldType):
    """A field whose type depends on a sibling's value: `changes` by the operation's `kind`."""

    on: str
    types: dict = field(hash=False)
    label: str = "value"

    def check(self, value: Any, path: str) -> None:
        raise AssertionError("checked by its Record")

    def check_in(self, parent: dict, value: Any, path: str) -> None:
        tag = parent.get(self.on)
        chosen = self.types.get(tag) if isinstance(tag, (str, int)) else None
        if chosen is None:
            raise FrameInvalid(f"{_at(path)}: no schema for {self.on} {tag!r:.60}")
        chosen.check(value, path)

    def describe(self) -> str:
        return f"by {self.on} (below)"

    def parts(self) -> tuple:
        return tuple(self.types.values())


class Record(FieldType):
    """An object with named fields, required unless optional(); no other keys."""

    def __init__(self, **fields: FieldType) -> None:
        self.fields = fields
        self.required = frozenset(name for name, kind in fields.items() if not isinstance(kind, Optional))

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise FrameInvalid(f"{_at(path)}: an object expected, got {type(value).__name__}")
        extra = [key for key in value if key not in self.fields]
        if extra:
            raise FrameInvalid(f"{_at(path)}: unexpected key {extra[0]!r:.60}")
        missing = sorted(self.required - value.keys())
        if missing:
            raise FrameInvalid(f"{_at(path)}: {missing[0]!r} is missing")
        for name, item in value.items():
            kind = self.fields[name]
            where = f"{path}.{name}" if path else name
            if isinstance(kind, Depends):
                kind.check_in(value, item, where)
            else:
                kind.check(item, where)

    def describe(self) -> str:
        return "{" + ", ".join(_field_text(name, kind) for name, kind in self.fields.items()) + "}"

    def parts(self) -> tuple:
        return tuple(self.fields.values())


class Named(FieldType):
    """A type shown by its name in the docs, and defined once below the table."""

    def __init__(self, name: str, of: FieldType) -> None:
        self.name, self.of = name, of

    def check(self, value: Any, path: str) -> None:
        self.of.check(value, path)

    def describe(self) -> str:
        return self.name

    def parts(self) -> tuple:
        return (self.of,)


def named(name: str, of: FieldType) -> Named:
    return Named(name, of)


def _field_text(name: str, kind: FieldType) -> str:
    return f"{name}{'?' if isinstance(kind, Optional) else ''}: {kind.describe()}"


# --- registries ----------------------------------------------------------------------------------


@dataclass
class FrameType:
    name: str
    doc: str
    schema: Record


class FrameRegistry:
    """The frame types of one socket or stream: `name` keys the registry, `where` says where the
    frames go (for the docs), `doc` is the Markdown file with its generated section."""

    def __init__(self, name: str, where: str, doc: str) -> None:
        self.name, self.where, self.doc = name, where, doc
        self.types: dict[str, FrameType] = {}
        REGISTRIES[name] = self

    def register(self, name: str, doc: str, **fields: FieldType) -> FrameType:
        if name in self.types:
            raise ValueError(f"frame type {name!r} of {self.name} is registered already")
        frame_type = FrameType(name, doc, Record(type=literal(name), **fields))
        self.types[name] = frame_type
        return frame_type

    def check(self, frame: Any) -> None:
        """FrameInvalid unless `frame` is one of the registered types and matches its schema."""
        if not isinstance(frame, dict):
            raise FrameInvalid(f"{self.name}: a frame is an object, got {type(frame).__name__}")
        kind = frame.get("type")
        frame_type = self.types.get(kind) if isinstance(kind, str) else None
        if frame_type is None:
            raise FrameInvalid(f"{self.name}: unknown frame type {kind!r:.60}")
        try:
            frame_type.schema.check(frame, "")
        except FrameInvalid as error:
            raise FrameInvalid(f"{self.name} frame {frame_type.name!r}: {error}") from None


REGISTRIES: dict[str, FrameRegistry] = {}


def load_registries() -> dict[str, FrameRegistry]:
    """Every app's frame types (the `frames` module of each installed app that has one)."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("frames")
    return REGISTRIES


def registry(name: str) -> FrameRegistry:
    return load_registries()[name]


# --- documentation -------------------------------------------------------------------------------

BEGIN, END = "<!-- frames:{}:begin -->", "<!-- frames:{}:end -->"


def render_markdown(frames: FrameRegistry) -> str:
    """The Markdown table of a registry's frame types (generated: `manage.py frames_doc`)."""
    lines = [
        f"Generated from `{frames.name}` frame types (`manage.py frames_doc` rewrites it); every frame",
        f"sent on {frames.where} matches one of them, with no other keys. `?`: may be absent.",
        "",
        "| type | fields | |",
        "|---|---|---|",
    ]
    for frame_type in frames.types.values():
        fields = [(n, k) for n, k in frame_type.schema.fields.items() if n != "type"]
        text = ", ".join(_code(_field_text(n, k)) for n, k in fields) or "(none)"
        lines.append(f"| `{frame_type.name}` | {text} | {frame_type.doc} |")
    inner = _inner(frame_type.schema for frame_type in frames.types.values())
    names = [kind for kind in inner if isinstance(kind, Named)]
    if names:
        lines += ["", "| name | is |", "|---|---|"]
        lines += [f"| `{kind.name}` | {_code(kind.of.describe())} |" for kind in names]
    for kind in (kind for kind in inner if isinstance(kind, Depends)):
        lines += ["", f"| {kind.on} | {kind.label} |", "|---|---|"]
        lines += [f"| `{value}` | {_code(schema.describe())} |" for value, schema in kind.types.items()]
    return "\n".join(lines) + "\n"


def _inner(types) -> list:
    """Every type inside `types`, each once, in the order met (depth first)."""
    seen: dict[int, FieldType] = {}
    stack = list(reversed(list(types)))
    while stack:
        kind = stack.pop()
        if id(kind) not in seen:
            seen[id(kind)] = kind
            stack.extend(reversed(kind.parts()))
    return list(seen.values())


def _code(text: str) -> str:
    """`text` as code inside a Markdown table cell (a | would end the cell)."""
    return "`" + text.replace("|", "\\|") + "`"


def rewrite_doc(text: str, frames: FrameRegistry) -> str:
    """`text` (a Markdown page) with the section between the registry's markers rendered anew."""
    begin, end = BEGIN.format(frames.name), END.format(frames.name)
    head, found, rest = text.partition(begin)
    if not found or end not in rest:
        raise ValueError(f"{frames.doc} has no {begin} ... {end} section")
    return f"{head}{begin}\n{render_markdown(frames)}{end}{rest.partition(end)[2]}"


def doc_updates(base: Path) -> dict[Path, str]:
    """{doc path: its text with every registry's section up to date}, for the docs that change."""
    pages: dict[Path, str] = {}
    for frames in load_registries().values():
        path = base / frames.doc
        pages[path] = rewrite_doc(pages.get(path) or path.read_text(), frames)
    return {path: text for path, text in pages.items() if text != path.read_text()}
