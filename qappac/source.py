"""Source locations and diagnostics: the one place that knows how errors look.

A `Span` names a file and a half-open byte range of its text; line and column are computed
on demand from the `SourceFile`, so spans stay cheap and survive whitespace-only edits of
unrelated lines in golden comparisons (spans never reach dumps).
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class SourceFile:
    """The text of one input file, with a line index for offset -> (line, column)."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        object.__setattr__(self, "_line_starts", tuple(starts))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : len(self.text) if end < 0 else end]


@dataclass(frozen=True)
class Span:
    """A half-open range [start, end) of character offsets in one source file."""

    file: SourceFile
    start: int
    end: int

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def line(self) -> int:
        return self.file.line_col(self.start)[0]

    @property
    def column(self) -> int:
        return self.file.line_col(self.start)[1]

    def __repr__(self) -> str:  # keeps IR reprs short
        return f"Span({self.path}:{self.line}:{self.column})"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    message: str
    span: Span | None = None
    notes: tuple[Diagnostic, ...] = ()

    def render(self) -> str:
        """`path:line:col: severity: message`, the source line and carets under the span.

        >>> f = SourceFile("d.qa", "array 0 x 14\\n")
        >>> print(Diagnostic("error", "rows must be at least 1", Span(f, 6, 7)).render())
        d.qa:1:7: error: rows must be at least 1
            array 0 x 14
                  ^
        """
        out = [self._render_one()]
        out.extend(note._render_one() for note in self.notes)
        return "\n".join(out)

    def _render_one(self) -> str:
        if self.span is None:
            return f"qappac: {self.severity}: {self.message}"
        span = self.span
        line, col = span.file.line_col(span.start)
        head = f"{span.path}:{line}:{col}: {self.severity}: {self.message}"
        text = span.file.line_text(line)
        end_line, end_col = span.file.line_col(max(span.start, span.end - 1))
        width = (end_col - col + 1) if end_line == line else len(text) - col + 1
        width = max(1, min(width, len(text) - col + 1))
        shown = text.expandtabs(1)
        return f"{head}\n    {shown}\n    {' ' * (col - 1)}{'^' * width}"


class DiagnosticSink:
    """Collects diagnostics; passes report and keep going, the driver stops between passes."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, span: Span | None = None, *notes: Diagnostic) -> None:
        self.diagnostics.append(Diagnostic("error", message, span, tuple(notes)))

    def warning(self, message: str, span: Span | None = None, *notes: Diagnostic) -> None:
        self.diagnostics.append(Diagnostic("warning", message, span, tuple(notes)))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        """Diagnostics in source order (file, offset), then in the order they were reported."""

        def key(item: tuple[int, Diagnostic]) -> tuple[str, int, int]:
            index, diag = item
            if diag.span is None:
                return ("", -1, index)
            return (diag.span.path, diag.span.start, index)

        result, seen = [], set()
        for _, diag in sorted(enumerate(self.diagnostics), key=key):
            # a top-level block used by two networks must not report its mistakes twice
            where = (diag.span.path, diag.span.start, diag.span.end) if diag.span else None
            if (diag.severity, diag.message, where) in seen:
                continue
            seen.add((diag.severity, diag.message, where))
            result.append(diag)
        return result


def error(message: str) -> Diagnostic:
    """An error that belongs to no place in a file (a missing file, an unknown design)."""
    return Diagnostic("error", message)


def note(message: str, span: Span | None) -> Diagnostic:
    return Diagnostic("note", message, span)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ", did you mean 'x'?" suffix when some candidate is close to `name`, else ''.

    >>> did_you_mean("resnet05", ["resnet50", "vgg16"])
    ", did you mean 'resnet50'?"
    """
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f", did you mean '{close[0]}'?" if close else ""


class DesignError(Exception):
    """Raised by the driver when a stage reported errors; carries them for rendering."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics
