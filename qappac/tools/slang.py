"""Elaboration and lint of SystemVerilog with pyslang: the only module that imports it.

qappac promises generated RTL with *no* diagnostic at all from a full pyslang compilation:
not only the errors and warnings of the `slang` command line's default set (``-Wdefault``,
what `pyslang.driver.Driver` reports), but also the pedantic ones the Compilation API adds
(sign and width conversions). `check_sources` reports both counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = "pyslang is missing: pip install 'pyslang>=12,<13' (a dependency of qappac)"


@dataclass(frozen=True)
class SlangReport:
    """The outcome of one elaboration."""

    errors: int
    """Errors (under any warning set)."""
    default_warnings: int
    """Warnings the `slang` command line shows by default (``-Wdefault``)."""
    diagnostics: int
    """Every diagnostic of the full compilation, pedantic warnings included."""
    text: str
    """All diagnostics, rendered with file, line and caret."""

    @property
    def clean(self) -> bool:
        return self.diagnostics == 0


def available() -> bool:
    """Whether pyslang can be imported."""
    try:
        import pyslang  # noqa: F401
    except ImportError:
        return False
    return True


def check_sources(
    sources: Mapping[str, str],
    top: str,
    params: Mapping[str, int] | None = None,
) -> SlangReport:
    """Parse and elaborate ``sources`` (file name -> text) with ``top`` as the top module.

    ``params`` overrides top-level parameters. Raises ImportError (with `INSTALL_HINT`)
    when pyslang is missing.
    """
    try:
        import pyslang
    except ImportError as err:  # pragma: no cover - depends on the machine
        raise ImportError(INSTALL_HINT) from err

    manager = pyslang.SourceManager()
    options = pyslang.ast.CompilationOptions()
    options.topModules = {top}
    options.defaultTimeScale = pyslang.TimeScale.fromString("1ns/1ps")
    if params:
        options.paramOverrides = [f"{k}={v}" for k, v in sorted(params.items())]
    bag = pyslang.Bag([options])
    compilation = pyslang.ast.Compilation(bag)
    for name, text in sources.items():
        tree = pyslang.syntax.SyntaxTree.fromText(text, manager, name)
        compilation.addSyntaxTree(tree)
    diags = list(compilation.getAllDiagnostics())
    errors, default_warnings = _count_default(pyslang, manager, diags)
    text = pyslang.DiagnosticEngine.reportAll(manager, diags) if diags else ""
    return SlangReport(errors, default_warnings, len(diags), text)


def _count_default(pyslang: Any, manager: Any, diags: list[Any]) -> tuple[int, int]:
    """Errors and warnings as the slang command line would count them by default."""
    engine = pyslang.DiagnosticEngine(manager)
    engine.setWarningOptions(["default"])
    client = pyslang.TextDiagnosticClient()
    engine.addClient(client)
    for diag in diags:
        engine.issue(diag)
    return int(engine.numErrors), int(engine.numWarnings)
