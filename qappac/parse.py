"""The parser: text -> Lark tree, with syntax errors turned into located diagnostics."""

from __future__ import annotations

import re
from collections.abc import Collection
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
    "VARY_PARAM": "a parameter (pe, array, spad, glb, dram, clock)",
    "STEP": "a step like *2 or +64",
    "$END": "end of file",
}


# Where a statement keyword may appear, for "'batch' is not allowed here" messages.
_KEYWORD_PLACES = {
    **{k: "in an accelerator" for k in ("pe", "array", "spad", "glb", "dram", "clock")},
    **{k: "in a network or a block" for k in ("conv", "fc", "pool", "add")},
    **{k: "in a network" for k in ("input", "use")},
    "block": "at the top level or in a network",
    **{k: "in a design or an explore" for k in ("batch", "objective")},
    **{k: "in an explore" for k in ("base", "networks", "vary")},
    **{k: "at the top level" for k in ("include", "design", "explore")},
    **{k: "at the top level or in a design" for k in ("accelerator", "network")},
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    grammar = (data_dir("grammar") / "qappa.lark").read_text(encoding="utf-8")
    # cache=True keeps the compiled LALR tables in the temp folder, keyed by the grammar's
    # hash and the options: `qappac check` then starts in tens of milliseconds, not hundreds.
    return Lark(
        grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True
    )


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
            end = text.find("\n", pos)
            return "unterminated string", Span(file, pos, len(text) if end < 0 else end)
        negative = re.match(r"-\d+(\.\d+)?", text[pos:])
        if negative:
            return (
                f"numbers cannot be negative (got '{negative.group()}')",
                Span(file, pos, pos + len(negative.group())),
            )
        allowed = set(exc.allowed or ())
        if allowed and len(allowed) <= 3:  # one thing could come here: say what
            got = _quote_char(char) if char else "end of file"
            return _expected_message(allowed, got), Span(file, pos, pos + 1)
        return f"unexpected character {_quote_char(char)}", Span(file, pos, pos + 1)
    if isinstance(exc, UnexpectedEOF):
        return _expected_message(exc.expected, "end of file"), _last_token_span(file, exc.token)
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    if token.type == "$END":
        return _expected_message(exc.expected, "end of file"), _last_token_span(file, token)
    start = token.start_pos or 0
    end = token.end_pos if token.end_pos is not None else start + 1
    got = _describe_token(token)
    span = Span(file, start, end)
    if token.type != "NAME" and str(token.value).isidentifier():
        keyword = str(token.value)
        if "NAME" in exc.expected:
            return f"'{keyword}' is a keyword and cannot be used as a name", span
        place = _KEYWORD_PLACES.get(keyword)
        if place and len(exc.expected) > 4:  # where a statement may start
            return f"'{keyword}' is not allowed here: it belongs {place}", span
    if token.type == "NAME" and "NAME" not in exc.expected:
        hint = did_you_mean(str(token.value), _keywords(exc.expected))
        if len(exc.expected) > 4:
            return f"unknown statement '{token.value}'" + hint, span
        return _expected_message(exc.expected, got) + hint, span
    return _expected_message(exc.expected, got), span


def _quote_char(char: str) -> str:
    """A character as the user can read it, even when it is invisible or a quote."""
    if not char:
        return "at end of file"
    if char == "'":
        return '"\'"'
    if not char.isprintable() or char.isspace():
        return f"U+{ord(char):04X}"
    return f"'{char}'"


def _last_token_span(file: SourceFile, token: Token | None) -> Span:
    """Where a file ended too early: Lark's end token borrows the last real token's position,
    which (unlike the last character) is never inside a trailing comment."""
    start = getattr(token, "start_pos", None)
    end = getattr(token, "end_pos", None)
    if start is None or end is None or end <= start:
        end = len(file.text.rstrip())
        return Span(file, max(0, end - 1), end)
    return Span(file, start, end)


def _keywords(expected: Collection[str]) -> list[str]:
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


def _expected_message(expected: Collection[str], got: str) -> str:
    described: set[str] = set()
    for name in expected:
        if name == "REF_KW":  # listed as two keywords, so "or" appears once in the message
            described.update(("'accelerator'", "'network'"))
        else:
            described.add(_describe(name))
    names = sorted(described)
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
