"""Wrappers around the external tools qappac drives: Verilator, pyslang, Yosys, OpenSTA.

Each wrapper finds its tool, runs it in a temporary folder, parses its output, and raises a
`ToolError` naming the log file on failure, or a `ToolMissingError` saying how to install it.
"""

from __future__ import annotations


class ToolError(RuntimeError):
    """An external tool failed; the message names its log file."""


class ToolMissingError(ToolError):
    """An optional external tool (or its input) is missing; the message says how to get it."""


__all__ = ["ToolError", "ToolMissingError"]
