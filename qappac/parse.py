"""The parser: text -> Lark tree, with syntax errors turned into located diagnostics."""

from __future__ import annotations

import re
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from qappac.resources import data_dir
from qappac.source import DiagnosticSink, SourceFile, Span, did_you_mean

# What the user sees instead of Lark's terminal names.
_TERMINALS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "DIMS": "dimensions like 12 x 14",
    "STRING": 'a quoted path like "networks/vgg16.qa"',
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "SEMICOLON": "';'",
    "SLASH": "'/'",
    "POOL_OP": "'max' or 'avg'",
    "REF_KW": "'accelerator' or 'network'",
    "VARY_PARAM": "a parameter (pe, array, spad, glb, dram, clock)",
    "STEP": "a step like *2 or +64",
    "$END": "end of file",
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    grammar = (data_dir("grammar") / "qappa.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _describe(name: str) -> str:
    if name in _TERMINALS:
        return _TERMINALS[name]
    try:
        pattern = parser().get_terminal(name).pattern.value
    except KeyError:
        return name.lower()
    return f"'{pattern}'"


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return f"'{token.value}'"


def parse_text(file: SourceFile, sink: DiagnosticSink) -> Tree | None:
    """Parse one file; on a syntax error report it and return None.

    >>> from qappac.source import SourceFile, DiagnosticSink
    >>> sink = DiagnosticSink()
    >>> parse_text(SourceFile("d.qa", "accelerator a { array 0 }"), sink) is None
    True
    >>> print(sink.diagnostics[0].render().splitlines()[0])
    d.qa:1:23: error: expected dimensions like 12 x 14, got '0'
    """
    try:
        return parser().parse(file.text)
    except UnexpectedInput as exc:
        sink.error(*_syntax_error(file, exc))
        return None


def _syntax_error(file: SourceFile, exc: UnexpectedInput) -> tuple[str, Span]:
    text = file.text
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        if char == '"':
            return "unterminated string", Span(file, pos, len(text.split("\n", 1)[0]) or pos + 1)
        return f"unexpected character '{char}'", Span(file, pos, pos + 1)
    if isinstance(exc, UnexpectedEOF):
        end = len(text.rstrip())
        return _expected_message(exc.expected, "end of file"), Span(file, max(0, end - 1), end)
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    if token.type == "$END":
        end = len(text.rstrip())
        start = max(0, end - 1)
        return _expected_message(exc.expected, "end of file"), Span(file, start, end)
    start = token.start_pos or 0
    end = token.end_pos if token.end_pos is not None else start + 1
    got = _describe_token(token)
    if token.type.startswith("__ANON") or token.type.isupper() and token.value.isalpha():
        keyword = token.value
        if "NAME" in exc.expected and keyword.isidentifier():
            return (
                f"'{keyword}' is a keyword and cannot be used as a name",
                Span(file, start, end),
            )
    if token.type == "NAME" and len(exc.expected) > 6:
        keywords = _keywords(exc.expected)
        return (
            f"unknown statement '{token.value}'" + did_you_mean(token.value, keywords),
            Span(file, start, end),
        )
    return _expected_message(exc.expected, got), Span(file, start, end)


def _keywords(expected: set[str] | frozenset[str] | list[str]) -> list[str]:
    words = []
    for name in expected:
        try:
            pattern = parser().get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str" and pattern.value.isidentifier():
            words.append(pattern.value)
        elif name in ("REF_KW", "VARY_PARAM", "POOL_OP"):
            words.extend(re.findall(r"[a-z]+", pattern.value))
    return sorted(set(words))


def _expected_message(expected: set[str] | frozenset[str] | list[str], got: str) -> str:
    names = sorted({_describe(name) for name in expected})
    if got == "end of file" and "RBRACE" in expected:
        return "unexpected end of file, is a '}' missing?"
    if not names or len(names) > 6:
        return f"unexpected {got}"
    if len(names) == 1:
        wanted = names[0]
    else:
        wanted = ", ".join(names[:-1]) + " or " + names[-1]
    return f"expected {wanted}, got {got}"


def span_of(file: SourceFile, item: Tree | Token) -> Span:
    """The span of a tree or token (trees need `propagate_positions`)."""
    if isinstance(item, Token):
        start = item.start_pos or 0
        return Span(file, start, item.end_pos if item.end_pos is not None else start)
    meta = item.meta
    if getattr(meta, "empty", True):
        return Span(file, 0, 0)
    return Span(file, meta.start_pos, meta.end_pos)
