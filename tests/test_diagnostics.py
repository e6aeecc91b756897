"""Diagnostics tests: every `tests/diagnostics/*.qa` is a bad design that carries its expected
errors as comments on the offending lines, mypy-style:

    array 0 x 14        # E:11: array dimensions must be at least 1

`# E:COL: text` expects an error located on that line at column COL whose message contains
`text`; `# N:COL: text` expects a note. A line may carry several, separated by ` # `. Files in
subfolders (`include/`) are helpers that the cases include; expectations written in them count
for the case that includes them. The test runs `qappac check` in-process and asserts exit code
1, that every expected error appears (with the source line and carets under it), that no other
error appears and that nothing crashed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from qappac.cli import main

HERE = Path(__file__).parent / "diagnostics"
CASES = sorted(HERE.glob("*.qa"))
_EXPECT = re.compile(r"#\s*([EN]):(\d+):\s*(.*?)\s*(?=#\s*[EN]:\d+:|$)")
_INCLUDE = re.compile(r'^\s*include\s+"([^"\n]*)"', re.MULTILINE)
_HEADER = re.compile(r"^(.+?):(\d+):(\d+): (error|note): (.*)$")

Expectation = tuple[str, Path, int, int, str]  # severity, file, line, column, text


def expectations(case: Path) -> list[Expectation]:
    """The expectations of `case` and of the helper files it includes (transitively)."""
    result: list[Expectation] = []
    todo, seen = [case.resolve()], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for kind, col, message in _EXPECT.findall(line):
                severity = "error" if kind == "E" else "note"
                result.append((severity, path, number, int(col), message))
        for rel in _INCLUDE.findall(text):
            todo.append((path.parent / rel).resolve())
    return result


def run_check(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(path)], out, err)
    return code, err.getvalue()


def reported(stderr: str) -> list[tuple[str, Path, int, int, str, list[str]]]:
    """(severity, file, line, column, message, following lines) of every located diagnostic."""
    lines = stderr.splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            path, row, col, severity, message = match.groups()
            found.append(
                (
                    severity,
                    Path(path).resolve(),
                    int(row),
                    int(col),
                    message,
                    lines[index + 1 : index + 3],
                )
            )
    return found


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 35
    for case in CASES:
        assert any(s == "error" for s, *_ in expectations(case)), f"{case.name} expects nothing"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_diagnostics(case: Path) -> None:
    code, stderr = run_check(case)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert code == 1, f"exit code {code}\n{stderr}"
    got = reported(stderr)
    unlocated = [line for line in stderr.splitlines() if line.startswith("qappac: error:")]
    assert not unlocated, stderr
    problems = []
    wanted = expectations(case)
    for severity, path, row, col, text in wanted:
        if not any(
            (s, p, r, c) == (severity, path, row, col) and text in m for s, p, r, c, m, _ in got
        ):
            problems.append(f"missing {severity} {path.name}:{row}:{col}: {text}")
    for severity, path, row, col, message, after in got:
        if severity != "error":
            continue
        if not any(
            (s, p, r, c) == (severity, path, row, col) and t in message for s, p, r, c, t in wanted
        ):
            problems.append(f"unexpected error {path.name}:{row}:{col}: {message}")
        # the source line, then carets that start under the reported column
        assert len(after) == 2 and after[0].startswith("    "), stderr
        carets = after[1][4:]
        assert carets.strip() and set(carets.strip()) == {"^"}, stderr
        assert len(carets) - len(carets.lstrip()) == col - 1, stderr
    errors = [(p, r, c, m) for s, p, r, c, m, _ in got if s == "error"]
    assert len(errors) == len(set(errors)), f"an error is reported twice\n{stderr}"
    for message in (m for s, *_, m, _ in got if s == "error"):
        first = message.split(" ", 1)[0]
        assert not message.endswith("."), message
        assert first == first.lower() or first.isupper(), message  # lowercase or an acronym
    assert not problems, "\n".join(problems) + "\n\n" + stderr
