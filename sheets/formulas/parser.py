"""Formula text -> tokens -> an AST of tuples, by a tokenizer and a Pratt parser: user text is
only ever read by this grammar, never evaluated as code.

Grammar (Excel-like, lowest binding first): comparison (= <> < > <= >=), & (concatenation),
+ -, * /, ^ (right-associative), unary + -, then atoms: numbers, "text" ("" is a quote),
TRUE/FALSE, a column reference, NAME(args, ...), (expr).

A column reference is [Name] (a `]` in a name is written `]]`) in what people type, and {key}
(e.g. {c3}) in the stored form, so that renaming a column keeps the formula.

AST nodes: ("num", float), ("str", text), ("bool", b), ("ref", key or name), ("neg", node),
("op", operator, left, right), ("call", NAME, [args]); each parse error is a FormulaError with
the position (0-based character offset) where it was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidInput

MAX_LENGTH = 4000
MAX_DEPTH = 100
MAX_NAME = 200


class FormulaError(InvalidInput):
    """A formula that cannot be saved: a syntax error, an unknown column or function, a cycle."""

    def __init__(self, message: str, position: int | None = None) -> None:
        text = message if position is None else f"{message} (at character {position + 1})"
        super().__init__(text, position=position)


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, name, ref, key, op, (, ), ",", end
    text: str  # the value (a name's text, a reference's name or key)
    start: int
    end: int


_DIGITS = frozenset("0123456789")
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*", re.ASCII)
_KEY = re.compile(r"\{([a-z][a-z0-9_]{0,40})\}")
_OPERATORS = ("<=", ">=", "<>", "=", "<", ">", "+", "-", "*", "/", "^", "&")


def tokenize(text: str) -> list[Token]:
    """The tokens of `text` (a leading "=" is allowed and skipped); FormulaError if it has none."""
    if not isinstance(text, str):
        raise FormulaError("a formula must be text")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"a formula has at most {MAX_LENGTH} characters")
    tokens, i, n = [], 0, len(text)
    while i < n and text[i].isspace():
        i += 1
    if i < n and text[i] == "=":
        i += 1
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            match = _NUMBER.match(text, i)
            tokens.append(Token("num", match.group(), start, match.end()))
            i = match.end()
        elif ch == '"':
            i, value = _string(text, i)
            tokens.append(Token("str", value, start, i))
        elif ch == "[":
            i, name = _reference(text, i)
            tokens.append(Token("ref", name, start, i))
        elif ch == "{":
            match = _KEY.match(text, i)
            if match is None:
                raise FormulaError("a stored column reference is {key}", i)
            tokens.append(Token("key", match.group(1), start, match.end()))
            i = match.end()
        elif ch in _NAME_START:
            match = _NAME.match(text, i)
            tokens.append(Token("name", match.group().upper(), start, match.end()))
            i = match.end()
        elif ch in "(),;":
            tokens.append(Token("," if ch == ";" else ch, ch, start, i + 1))
            i += 1
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise FormulaError(f"unexpected character {ch!r}", i)
            tokens.append(Token("op", op, start, i + len(op)))
            i += len(op)
    if not tokens:
        raise FormulaError("the formula is empty")
    tokens.append(Token("end", "", n, n))
    return tokens


def _string(text, i):
    out, j = [], i + 1
    while True:
        end = text.find('"', j)
        if end < 0:
            raise FormulaError('text is not closed (a missing ")', i)
        out.append(text[j:end])
        if text.startswith('""', end):
            out.append('"')
            j = end + 2
            continue
        return end + 1, "".join(out)


def _reference(text, i):
    out, j = [], i + 1
    while True:
        end = text.find("]", j)
        if end < 0:
            raise FormulaError("a column reference is not closed (a missing ])", i)
        out.append(text[j:end])
        if text.startswith("]]", end):
            out.append("]")
            j = end + 2
            continue
        name = "".join(out).strip()
        if not name:
            raise FormulaError("an empty column reference []", i)
        if len(name) > MAX_NAME:
            raise FormulaError("a column name has at most 200 characters", i)
        return end + 1, name


# Binding powers of the binary operators (left, right); ^ binds right to left.
_BINARY = {
    "=": (10, 11),
    "<>": (10, 11),
    "<": (10, 11),
    ">": (10, 11),
    "<=": (10, 11),
    ">=": (10, 11),
    "&": (20, 21),
    "+": (30, 31),
    "-": (30, 31),
    "*": (40, 41),
    "/": (40, 41),
    "^": (61, 60),
}
_UNARY_POWER = 70  # above ^: -2^2 is 4, as in Excel


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        token = self.next()
        if token.kind != kind:
            raise FormulaError(f"expected {what}, found {_describe(token)}", token.start)
        return token

    def expression(self, min_power: int = 0) -> tuple:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(f"the formula is nested too deeply (at most {MAX_DEPTH} levels)", self.peek().start)
        left = self.prefix()
        while True:
            token = self.peek()
            if token.kind != "op" or token.text not in _BINARY:
                break
            left_power, right_power = _BINARY[token.text]
            if left_power < min_power:
                break
            self.next()
            left = ("op", token.text, left, self.expression(right_power))
        self.depth -= 1
        return left

    def prefix(self) -> tuple:
        token = self.next()
        if token.kind == "num":
            try:
                value = float(token.text)
            except OverflowError:  # pragma: no cover - float() gives inf, not an error
                value = float("inf")
            if value == float("inf"):
                raise FormulaError("the number is too large", token.start)
            return ("num", value)
        if token.kind == "str":
            return ("str", token.text)
        if token.kind in ("ref", "key"):
            return ("ref", token.text)
        if token.kind == "op" and token.text in "+-":
            operand = self.expression(_UNARY_POWER)
            return ("neg", operand) if token.text == "-" else ("op", "+", ("num", 0.0), operand)
        if token.kind == "(":
            inner = self.expression()
            self.expect(")", "a closing )")
            return inner
        if token.kind == "name":
            if self.peek().kind != "(":
                if token.text in ("TRUE", "FALSE"):
                    return ("bool", token.text == "TRUE")
                raise FormulaError(f"unknown name {token.text}; a column is referenced as [{token.text}]", token.start)
            self.next()
            args = []
            if self.peek().kind != ")":
                while True:
                    args.append(self.expression())
                    if self.peek().kind != ",":
                        break
                    self.next()
            self.expect(")", f"a , or the ) closing {token.text}(")
            return ("call", token.text, args, token.start)
        raise FormulaError(f"unexpected {_describe(token)}", token.start)


def _describe(token: Token) -> str:
    return "the end of the formula" if token.kind == "end" else repr(token.text if token.kind != "str" else '"')


def parse(text: str) -> tuple:
    """The AST of `text`; FormulaError (with the position) when it is not a formula."""
    parser = _Parser(tokenize(text))
    tree = parser.expression()
    token = parser.peek()
    if token.kind != "end":
        raise FormulaError(f"unexpected {_describe(token)} after a complete formula", token.start)
    if _depth(tree) > MAX_DEPTH:  # long chains (1+1+...) nest without parentheses
        raise FormulaError(f"the formula is nested too deeply (at most {MAX_DEPTH} levels)")
    return tree


def _children(node):
    if node[0] == "neg":
        return [node[1]]
    if node[0] == "op":
        return [node[2], node[3]]
    if node[0] == "call":
        return node[2]
    return []


def _depth(tree):
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest


def references(tree: tuple) -> set[str]:
    """The column references (names or keys) in an AST."""
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if node[0] == "ref":
            found.add(node[1])
        stack.extend(_children(node))
    return found


def rewrite_references(text: str, replace: dict[str, str], *, names: bool) -> str:
    """`text` with each column reference (a [Name] when `names`, else a {key}) replaced by
    replace[it] and the rest kept as written (spacing, case); a reference not in `replace` stays."""
    tokens = tokenize(text)
    kind = "ref" if names else "key"
    out, last = [], 0
    for token in tokens:
        if token.kind == kind and token.text in replace:
            out.append(text[last : token.start])
            out.append(replace[token.text])
            last = token.end
    out.append(text[last:])
    return "".join(out)


def name_reference(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"
