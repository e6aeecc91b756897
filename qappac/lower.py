"""Lowering: Lark trees of a file and its includes -> the IR `Program`, with spans everywhere.

Lowering resolves names (includes, `extends`, blocks, `from=`), expands blocks, converts units
and reports every problem it finds to the sink, then carries on with the next definition so
that one run shows all errors. Shape checks live in `qappac.shapes` and `qappac.check`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Token, Tree
from pydantic import ValidationError

from qappac import ir
from qappac.parse import parse_text, span_of
from qappac.resources import data_dir
from qappac.source import DiagnosticSink, SourceFile, Span, did_you_mean, note

_SIZE_UNITS = {"B": 1, "kB": 1000, "MB": 1000**2, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_RATE_UNITS = {"GB/s": 1.0, "MB/s": 1e-3, "kB/s": 1e-6, "TB/s": 1e3}
_CLOCK_UNITS = {"MHz": 1.0, "GHz": 1000.0, "kHz": 1e-3}
_UNIT_HINTS = {
    "KB": "'KB' is ambiguous: write KiB (1024 bytes) or kB (1000 bytes)",
    "kiB": "write KiB (1024 bytes)",
    "Kib": "write KiB (1024 bytes)",
    "Mib": "'Mib' would be megabits: write MiB (1024 KiB)",
    "Gb/s": "'Gb/s' would be gigabits: bandwidth is written in bytes, e.g. GB/s",
    "Mb/s": "'Mb/s' would be megabits: bandwidth is written in bytes, e.g. MB/s",
    "GBps": "write GB/s",
    "mhz": "write MHz",
    "Mhz": "write MHz",
    "ghz": "write GHz",
    "Ghz": "write GHz",
}
_ACC_FIELDS = {
    "pe": "pe",
    "array": "rows",
    "spad_ifmap": "spad_ifmap",
    "spad_filter": "spad_filter",
    "spad_psum": "spad_psum",
    "glb_bytes": "glb_bytes",
    "dram_gb_per_s": "dram_gb_per_s",
    "clock_mhz": "clock_mhz",
}
_ACC_STATEMENTS = {
    "pe": "pe",
    "array": "array",
    "spad_ifmap": "spad ifmap",
    "spad_filter": "spad filter",
    "spad_psum": "spad psum",
    "glb_bytes": "glb",
    "dram_gb_per_s": "dram",
    "clock_mhz": "clock",
}
_SPADS = ("ifmap", "filter", "psum")
_NAMED_PES = {
    "fp32": dict(family="fp", act_bits=32, weight_bits=32),
    "int16": dict(family="int", act_bits=16, weight_bits=16),
    "int8": dict(family="int", act_bits=8, weight_bits=8),
    "lightpe1": dict(family="light", act_bits=8, weight_bits=4, terms=1),
    "lightpe2": dict(family="light", act_bits=8, weight_bits=8, terms=2),
}
_PE_NAMES = sorted([*_NAMED_PES, "int", "light"])
_LAYER_ATTRS = {
    "conv": {"out", "kernel", "stride", "pad", "groups", "from"},
    "fc": {"out", "from"},
    "pool": {"kernel", "stride", "pad", "from"},
    "add": {"from"},
}
_ATTR_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "conv": {"out": ("out_channels",), "kernel": ("kernel_h", "kernel_w"), "from": ("inputs",)},
    "fc": {"out": ("out_features",), "from": ("inputs",)},
    "pool": {"from": ("inputs",)},
    "add": {"from": ("inputs",)},
}
_LAYER_FLAGS = {"conv": {"relu"}, "fc": {"relu"}, "pool": set(), "add": {"relu"}}
MAX_SWEEP_VALUES = 4096
MAX_INTEGER = 2**31 - 1
_BASE_UNIT = {"global buffer size": "B", "DRAM bandwidth": "GB/s", "clock": "MHz"}
MAX_QUANTITY = 1e15  # bytes, GB/s or MHz: far beyond any accelerator, and exact as a float
_DIM_NAMES = {
    ("array", 2): ["rows", "columns"],
    ("input", 3): ["channels", "height", "width"],
}


@dataclass
class _File:
    source: SourceFile
    tree: Tree


@dataclass
class _Defs:
    """Every top-level definition by kind and name, first definition wins."""

    accelerators: dict[str, tuple[Tree, SourceFile]] = field(default_factory=dict)
    networks: dict[str, tuple[Tree, SourceFile]] = field(default_factory=dict)
    blocks: dict[str, tuple[Tree, SourceFile]] = field(default_factory=dict)
    designs: dict[str, tuple[Tree, SourceFile]] = field(default_factory=dict)
    explores: dict[str, tuple[Tree, SourceFile]] = field(default_factory=dict)


def load_program(path: str | Path, sink: DiagnosticSink) -> ir.Program | None:
    """Read `path` and its includes and lower them into a `Program` (None on syntax errors)."""
    files = _read_with_includes(Path(path), sink)
    if files is None:
        return None
    return lower_files(files, sink)


def load_text(text: str, sink: DiagnosticSink, path: str = "<string>") -> ir.Program | None:
    """Lower one in-memory file (includes resolve against the current folder)."""
    source = SourceFile(path, text)
    tree = parse_text(source, sink)
    if tree is None:
        return None
    files = [_File(source, tree)]
    included = _follow_includes(files[0], Path(path).resolve().parent, sink, [Path(path)], set())
    if included is None:
        return None
    return lower_files(included + files, sink)


# ------------------------------------------------------------------------- includes


def _read_with_includes(path: Path, sink: DiagnosticSink) -> list[_File] | None:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is not text
    except (OSError, UnicodeDecodeError) as exc:
        sink.error(f"cannot read '{path}': {_os_reason(exc)}")
        return None
    source = SourceFile(str(path), text)
    tree = parse_text(source, sink)
    if tree is None:
        return None
    root = _File(source, tree)
    seen: set[Path] = {path.resolve()}
    included = _follow_includes(root, path.resolve().parent, sink, [path], seen)
    if included is None:
        return None
    return included + [root]


def _follow_includes(
    file: _File, folder: Path, sink: DiagnosticSink, stack: list[Path], seen: set[Path]
) -> list[_File] | None:
    """Files included by `file`, depth first, each once; None if one failed to parse."""
    result: list[_File] = []
    ok = True
    for item in file.tree.children:
        if not (isinstance(item, Tree) and item.data == "include"):
            continue
        token = item.children[0]
        span = span_of(file.source, token)
        rel = str(token)[1:-1]
        target = _resolve_include(folder, rel)
        if target is None:
            sink.error(f"cannot find included file '{rel}'", span)
            continue
        if target in [p.resolve() for p in stack]:
            chain = " -> ".join(p.name for p in [*stack, target])
            sink.error(f"include cycle: {chain}", span)
            continue
        if target in seen:
            continue
        seen.add(target)
        try:
            text = target.read_text(encoding="utf-8-sig")  # a BOM is not text
        except (OSError, UnicodeDecodeError) as exc:
            sink.error(f"cannot read included file '{rel}': {_os_reason(exc)}", span)
            continue
        display = _display_path(Path(file.source.path).parent / rel, target)
        source = SourceFile(display, text)
        tree = parse_text(source, sink)
        if tree is None:
            ok = False
            continue
        child = _File(source, tree)
        nested = _follow_includes(child, target.parent, sink, [*stack, target], seen)
        if nested is None:
            ok = False
            continue
        result.extend(nested)
        result.append(child)
    return result if ok else None


def _resolve_include(folder: Path, rel: str) -> Path | None:
    """Relative to the including file first, then in the bundled specs library."""
    for base in (folder, data_dir("specs")):
        try:
            candidate = (base / rel).resolve()
            if candidate.is_file():
                return candidate
        except (OSError, ValueError):  # a NUL byte, a name too long for the file system
            continue
    return None


def _display_path(written: Path, resolved: Path) -> str:
    """A stable, relative spelling of an included file for diagnostics."""
    return str(Path(*written.parts)) if written.exists() else f"<qappac>/{resolved.name}"


def _os_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


# ------------------------------------------------------------------------- lowering


def lower_files(files: list[_File], sink: DiagnosticSink) -> ir.Program:
    defs = _collect(files, sink)
    lowerer = _Lowerer(defs, sink)
    return lowerer.program()


def _collect(files: list[_File], sink: DiagnosticSink) -> _Defs:
    defs = _Defs()
    kinds = {
        "accelerator": defs.accelerators,
        "network": defs.networks,
        "block": defs.blocks,
        "design": defs.designs,
        "explore": defs.explores,
    }
    for file in files:
        for item in file.tree.children:
            if not isinstance(item, Tree) or item.data not in kinds:
                continue
            table = kinds[item.data]
            name_token = item.children[0]
            name = str(name_token)
            if name in table:
                first_tree, first_file = table[name]
                sink.error(
                    f"duplicate {item.data} '{name}'",
                    span_of(file.source, name_token),
                    note("first defined here", span_of(first_file, first_tree.children[0])),
                )
                continue
            table[name] = (item, file.source)
    return defs


class _Lowerer:
    def __init__(self, defs: _Defs, sink: DiagnosticSink) -> None:
        self.defs = defs
        self.sink = sink
        self.accelerators: dict[str, ir.Accelerator | None] = {}
        self.networks: dict[str, ir.Network | None] = {}
        self._acc_fields: dict[str, dict[str, tuple[Any, Span]] | None] = {}
        self._resolving: list[str] = []

    def program(self) -> ir.Program:
        for name in self.defs.accelerators:
            self.accelerator(name)
        for name in self.defs.networks:
            self.network(name)
        designs = [self.design(t, f) for t, f in self.defs.designs.values()]
        explores = [self.explore(t, f) for t, f in self.defs.explores.values()]
        return ir.Program(
            accelerators=tuple(a for a in self.accelerators.values() if a is not None),
            networks=tuple(n for n in self.networks.values() if n is not None),
            designs=tuple(d for d in designs if d is not None),
            explores=tuple(e for e in explores if e is not None),
        )

    # ---------------------------------------------------------------- helpers

    def build(self, cls: type[Any], span: Span, what: str, **values: Any) -> Any:
        """Construct an IR node; pydantic's complaints become located errors."""
        try:
            return cls(span=span, **values)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                message = error["msg"].lower().removeprefix("value error, ")
                self.sink.error(f"invalid {what}: {where + ': ' if where else ''}{message}", span)
            return None

    def integer(self, token: Any, file: SourceFile, what: str, minimum: int = 0) -> int | None:
        text = str(token)
        span = span_of(file, token)
        if token.type != "NUMBER" or not text.isdigit():
            self.sink.error(f"{what} must be a whole number (got '{text}')", span)
            return None
        value = int(text)
        if value < minimum:
            self.sink.error(f"{what} must be at least {minimum} (got {value})", span)
            return None
        if value > MAX_INTEGER:
            self.sink.error(f"{what} must be at most {MAX_INTEGER}", span)
            return None
        return value

    def dims(self, token: Any, file: SourceFile, count: int, what: str) -> list[int] | None:
        text = str(token)
        numbers = list(re.finditer(r"\d+", text))
        span = span_of(file, token)
        if len(numbers) != count:
            shape = " x ".join(["N"] * count)
            self.sink.error(f"{what} takes {count} dimensions ({shape}), got {len(numbers)}", span)
            return None
        names = _DIM_NAMES.get((what, count), [f"dimension {i + 1}" for i in range(count)])
        parts = []
        for label, match in zip(names, numbers, strict=True):
            value = int(match.group())
            if value > MAX_INTEGER:
                start = span.start + match.start()
                self.sink.error(
                    f"{what} {label} must be at most {MAX_INTEGER}",
                    Span(file, start, start + len(match.group())),
                )
                return None
            if value < 1:
                start = span.start + match.start()
                self.sink.error(
                    f"{what} {label} must be at least 1 (got {match.group()})",
                    Span(file, start, start + len(match.group())),
                )
                return None
            parts.append(value)
        return parts

    def quantity(
        self, tree: Tree, file: SourceFile, units: Mapping[str, float], what: str
    ) -> float | None:
        number, unit_tree = tree.children
        unit = "/".join(str(t) for t in unit_tree.children if t is not None)
        span = span_of(file, unit_tree)
        if unit not in units:
            hint = _UNIT_HINTS.get(unit)
            accepted = ", ".join(units)
            message = f"unknown unit '{unit}' for {what}"
            if hint:
                message += f": {hint}"
            else:
                message += did_you_mean(unit, units) or f" (use one of {accepted})"
            self.sink.error(message, span)
            return None
        value = float(str(number)) * units[unit]
        if value <= 0:
            self.sink.error(f"{what} must be greater than 0", span_of(file, tree))
            return None
        if not value <= MAX_QUANTITY:  # also catches inf from absurdly long numbers
            base = _BASE_UNIT.get(what, "base units")
            self.sink.error(
                f"{what} must be at most {MAX_QUANTITY:.0e} (in {base})", span_of(file, tree)
            )
            return None
        return value

    def size_bytes(self, tree: Tree, file: SourceFile, what: str) -> int | None:
        value = self.quantity(tree, file, _SIZE_UNITS, what)
        if value is None:
            return None
        if not float(value).is_integer():
            self.sink.error(f"{what} must be a whole number of bytes", span_of(file, tree))
            return None
        return int(value)

    # ---------------------------------------------------------------- PE types

    def pe_type(self, tree: Tree, file: SourceFile) -> ir.PEType | None:
        name_token, *args = tree.children
        name = str(name_token)
        span = span_of(file, tree)
        given = self.args(args, file)
        if given is None:
            return None
        if name in _NAMED_PES:
            allowed, required = {"acc"}, set()
            base: dict[str, Any] = dict(_NAMED_PES[name])
        elif name == "int":
            allowed, required = {"act", "weight", "acc"}, {"act", "weight"}
            base = {"family": "int"}
        elif name == "light":
            allowed, required = {"act", "terms", "acc"}, {"act", "terms"}
            base = {"family": "light"}
        elif re.fullmatch(r"int\d+", name):
            bits = name[3:]
            self.sink.error(
                f"unknown PE type '{name}': for {bits}-bit integers write "
                f"int(act={bits}, weight={bits})",
                span_of(file, name_token),
            )
            return None
        else:
            self.sink.error(
                f"unknown PE type '{name}'"
                + (did_you_mean(name, _PE_NAMES) or f" (one of {', '.join(_PE_NAMES)})"),
                span_of(file, name_token),
            )
            return None
        ok = True
        for key, (_, key_span) in given.items():
            if key not in allowed:
                ok = False
                self.sink.error(
                    f"PE type '{name}' has no parameter '{key}'"
                    + (did_you_mean(key, allowed) or f" (it takes {', '.join(sorted(allowed))})"),
                    key_span,
                )
        # a misspelt parameter already explains why a required one seems missing
        for key in sorted(required - given.keys()) if ok else ():
            ok = False
            self.sink.error(f"PE type '{name}' needs {key}=N", span)
        if not ok:
            return None
        values = {k: self.integer(tok, file, f"{k}=", 1) for k, (tok, _) in given.items()}
        if any(v is None for v in values.values()):
            return None
        limits = {"act": (2, 16), "weight": (2, 16), "terms": (1, 4), "acc": (4, 64)}
        for key, value in values.items():
            low, high = limits[key]
            if not low <= value <= high:  # type: ignore[operator]
                self.sink.error(
                    f"{key}={value} is out of range for '{name}' ({low} to {high})",
                    given[key][1],
                )
                ok = False
        if not ok:
            return None
        if "act" in values:
            base["act_bits"] = values["act"]
        if name == "int":
            base["weight_bits"] = values["weight"]
        if name == "light":
            base["terms"] = values["terms"]
            base["weight_bits"] = 4 * values["terms"]  # type: ignore[operator]
        if "acc" in values:
            base["acc_bits"] = values["acc"]
        return self.build(ir.PEType, span, "PE type", **base)  # type: ignore[no-any-return]

    def args(self, args: list[Any], file: SourceFile) -> dict[str, tuple[Token, Span]] | None:
        """`name=value` arguments; duplicates are errors. Values are single tokens."""
        result: dict[str, tuple[Token, Span]] = {}
        ok = True
        for arg in args:
            if arg is None:
                continue
            key_token, value_tree = arg.children
            key = str(key_token)
            if key in result:
                self.sink.error(f"duplicate argument '{key}'", span_of(file, key_token))
                ok = False
                continue
            result[key] = (value_tree.children[0], span_of(file, arg))
        return result if ok else None

    # ---------------------------------------------------------------- accelerators

    def accelerator(self, name: str) -> ir.Accelerator | None:
        if name in self.accelerators:
            return self.accelerators[name]
        fields = self.accelerator_fields(name)
        tree, file = self.defs.accelerators[name]
        result = None
        if fields is not None:
            missing = [_ACC_STATEMENTS[k] for k in _ACC_FIELDS if k not in fields]
            if missing:
                self.sink.error(
                    f"accelerator '{name}' does not set {', '.join(missing)}",
                    span_of(file, tree.children[0]),
                )
            else:
                values = {k: v for k, (v, _) in fields.items() if k != "array"}
                values["rows"], values["cols"] = fields["array"][0]
                spans = tuple(
                    sorted(((k if k != "array" else "rows"), s) for k, (_, s) in fields.items())
                )
                result = self.build(
                    ir.Accelerator,
                    span_of(file, tree),
                    f"accelerator '{name}'",
                    name=name,
                    field_spans=spans,
                    **values,
                )
        self.accelerators[name] = result
        return result

    def accelerator_fields(self, name: str) -> dict[str, tuple[Any, Span]] | None:
        """Field values with the span of the statement that set them, `extends` applied."""
        if name in self._acc_fields:
            return self._acc_fields[name]
        tree, file = self.defs.accelerators[name]
        name_token, parent_token, *body = tree.children
        fields: dict[str, tuple[Any, Span]] = {}
        ok = True
        self._resolving.append(name)
        try:
            ok = self._inherit(name, parent_token, file, fields)
        finally:
            self._resolving.pop()
        own: dict[str, Span] = {}
        for stmt in body:
            if not isinstance(stmt, Tree):
                continue
            key, value = self.acc_statement(stmt, file)
            if key is None:
                ok = False
                continue
            span = span_of(file, stmt)
            if key in own:
                self.sink.error(
                    f"'{_ACC_STATEMENTS[key]}' is set twice in accelerator '{name}'",
                    span,
                    note("first set here", own[key]),
                )
                ok = False
                continue
            own[key] = span
            if value is None:
                ok = False
                continue
            fields[key] = (value, span)
        result = fields if ok else None
        self._acc_fields[name] = result
        return result

    def _inherit(
        self,
        name: str,
        parent_token: Any,
        file: SourceFile,
        fields: dict[str, tuple[Any, Span]],
    ) -> bool:
        """Copy the parent's fields into `fields`; False if the parent is unknown or broken.
        `self._resolving` holds the chain being resolved, `name` last."""
        if parent_token is None:
            return True
        parent = str(parent_token)
        pspan = span_of(file, parent_token)
        if parent not in self.defs.accelerators:
            self.sink.error(
                f"unknown accelerator '{parent}'" + did_you_mean(parent, self.defs.accelerators),
                pspan,
            )
            return False
        if parent in self._resolving:
            chain = " -> ".join([*self._resolving[self._resolving.index(parent) :], parent])
            self.sink.error(f"'extends' cycle: {chain}", pspan)
            return False
        inherited = self.accelerator_fields(parent)
        if inherited is None:
            return False
        fields.update(inherited)
        return True

    def acc_statement(self, stmt: Tree, file: SourceFile) -> tuple[str | None, Any]:
        kind = stmt.data
        if kind == "pe_stmt":
            return "pe", self.pe_type(stmt.children[0], file)
        if kind == "array_stmt":
            dims = self.dims(stmt.children[0], file, 2, "array")
            return "array", (tuple(dims) if dims else None)
        if kind == "spad_stmt":
            which, size = stmt.children
            if str(which) not in _SPADS:
                self.sink.error(
                    f"unknown scratchpad '{which}'"
                    + (did_you_mean(str(which), _SPADS) or " (one of ifmap, filter, psum)"),
                    span_of(file, which),
                )
                return None, None
            words = self.integer(size, file, f"spad {which} size in words", 1)
            return f"spad_{which}", words
        if kind == "glb_stmt":
            return "glb_bytes", self.size_bytes(stmt.children[0], file, "global buffer size")
        if kind == "dram_stmt":
            return "dram_gb_per_s", self.quantity(
                stmt.children[0], file, _RATE_UNITS, "DRAM bandwidth"
            )
        assert kind == "clock_stmt"
        return "clock_mhz", self.quantity(stmt.children[0], file, _CLOCK_UNITS, "clock")

    # ---------------------------------------------------------------- networks

    def network(self, name: str) -> ir.Network | None:
        if name in self.networks:
            return self.networks[name]
        tree, file = self.defs.networks[name]
        expander = _NetworkExpander(self, name, file)
        result = expander.run(tree)
        self.networks[name] = result
        return result

    def ref(self, token: Any, file: SourceFile, kind: str, table: dict[str, Any]) -> str | None:
        name = str(token)
        if name not in table:
            self.sink.error(
                f"unknown {kind} '{name}'" + did_you_mean(name, table), span_of(file, token)
            )
            return None
        return name

    # ---------------------------------------------------------------- designs

    def settings(
        self,
        what: str,
        name_token: Any,
        stmts: list[Tree],
        file: SourceFile,
        lower_stmt: Callable[[Tree], tuple[str, Any]],
        required: tuple[str, ...],
    ) -> dict[str, Any] | None:
        """Statements that each set one key at most once (a design's or an explore's
        options): their values, or None when any was wrong (every problem is reported)."""
        values: dict[str, Any] = {}
        seen: dict[str, Span] = {}
        ok = True
        for stmt in stmts:
            key, value = lower_stmt(stmt)
            span = span_of(file, stmt)
            if key in seen:
                self.sink.error(
                    f"'{key}' is set twice in {what}", span, note("first set here", seen[key])
                )
                ok = False
                continue
            seen[key] = span
            if value is None:
                ok = False
            values[key] = value
        for key in required:
            if key not in seen:
                self.sink.error(f"{what} does not name its {key}", span_of(file, name_token))
                ok = False
        return values if ok else None

    def design(self, tree: Tree, file: SourceFile) -> ir.Design | None:
        name_token, *body = tree.children
        name = str(name_token)
        values = self.settings(
            f"design '{name}'",
            name_token,
            [stmt for stmt in body if isinstance(stmt, Tree)],
            file,
            lambda stmt: self.run_option(stmt, file),
            ("accelerator", "network"),
        )
        if values is None:
            return None
        accelerator = self.accelerator(values["accelerator"])
        network = self.network(values["network"])
        if accelerator is None or network is None:
            return None
        return self.build(  # type: ignore[no-any-return]
            ir.Design,
            span_of(file, tree),
            f"design '{name}'",
            name=name,
            accelerator=accelerator,
            network=network,
            **{k: v for k, v in values.items() if k in ("batch", "objective")},
        )

    def run_option(self, stmt: Tree, file: SourceFile) -> tuple[str, Any]:
        if stmt.data == "ref_stmt":
            kw, target = stmt.children
            table = self.defs.accelerators if str(kw) == "accelerator" else self.defs.networks
            return str(kw), self.ref(target, file, str(kw), table)
        if stmt.data == "batch_stmt":
            return "batch", self.integer(stmt.children[0], file, "batch", 1)
        assert stmt.data == "objective_stmt"
        token = stmt.children[0]
        objectives = ("energy", "latency", "edp")
        if str(token) not in objectives:
            self.sink.error(
                f"unknown objective '{token}'"
                + (did_you_mean(str(token), objectives) or " (one of energy, latency, edp)"),
                span_of(file, token),
            )
            return "objective", None
        return "objective", str(token)

    def explore(self, tree: Tree, file: SourceFile) -> ir.Explore | None:
        name_token, *body = tree.children
        name = str(name_token)
        stmts = [stmt for stmt in body if isinstance(stmt, Tree)]
        axes = self.axes([stmt for stmt in stmts if stmt.data == "vary"], file, name)
        values = self.settings(
            f"explore '{name}'",
            name_token,
            [stmt for stmt in stmts if stmt.data != "vary"],
            file,
            lambda stmt: self.explore_option(stmt, file, name),
            ("base", "networks"),
        )
        if values is None or axes is None:
            return None
        base = self.accelerator(values["base"])
        networks = [self.network(n) for n in values["networks"]]
        if base is None or any(n is None for n in networks):
            return None
        return self.build(  # type: ignore[no-any-return]
            ir.Explore,
            span_of(file, tree),
            f"explore '{name}'",
            name=name,
            base=base,
            networks=tuple(networks),
            axes=tuple(axes),
            **{k: v for k, v in values.items() if k in ("batch", "objective")},
        )

    def explore_option(self, stmt: Tree, file: SourceFile, name: str) -> tuple[str, Any]:
        if stmt.data == "base_stmt":
            accelerators = self.defs.accelerators
            return "base", self.ref(stmt.children[0], file, "accelerator", accelerators)
        if stmt.data == "networks_stmt":
            refs = [self.ref(t, file, "network", self.defs.networks) for t in stmt.children]
            if None in refs:
                return "networks", None
            if len(set(refs)) != len(refs):
                self.sink.error(
                    f"a network is listed twice in explore '{name}'", span_of(file, stmt)
                )
                return "networks", None
            return "networks", refs
        return self.run_option(stmt, file)

    def axes(self, stmts: list[Tree], file: SourceFile, name: str) -> list[Any] | None:
        """The `vary` statements of an explore, each parameter varied once."""
        axes: list[Any] = []
        spans: dict[str, Span] = {}
        ok = True
        for stmt in stmts:
            axis = self.axis(stmt, file)
            if axis is None:
                ok = False
                continue
            key = getattr(axis, "param", axis.kind)
            span = span_of(file, stmt)
            if key in spans:
                said = " ".join(str(t) for t in stmt.children[:2] if t is not None)
                self.sink.error(
                    f"'{said}' is varied twice in explore '{name}'",
                    span,
                    note("first varied here", spans[key]),
                )
                ok = False
                continue
            spans[key] = span
            axes.append(axis)
        return axes if ok else None

    def axis(self, stmt: Tree, file: SourceFile) -> Any:
        param_token, sub, *choices = stmt.children
        param = str(param_token)
        span = span_of(file, stmt)
        if param == "spad":
            if sub is None or str(sub) not in _SPADS:
                where = span_of(file, sub) if sub is not None else span_of(file, param_token)
                self.sink.error("'vary spad' names a scratchpad: ifmap, filter or psum", where)
                return None
        elif sub is not None:
            self.sink.error(f"'vary {param}' takes no sub-parameter", span_of(file, sub))
            return None
        values = self.axis_values(param, choices, file)
        if values is None:
            return None
        if len(set(values)) != len(values):
            self.sink.error(f"'vary {param}' lists a value twice", span)
            return None
        if param == "pe":
            return self.build(ir.PEAxis, span, "axis", values=tuple(values))
        if param == "array":
            shapes = tuple(ir.ArrayShape(rows=r, cols=c) for r, c in values)
            return self.build(ir.ArrayAxis, span, "axis", values=shapes)
        if param in ("spad", "glb"):
            key = f"spad_{sub}" if param == "spad" else "glb_bytes"
            return self.build(ir.SizeAxis, span, "axis", param=key, values=tuple(values))
        key = "dram_gb_per_s" if param == "dram" else "clock_mhz"
        return self.build(ir.RateAxis, span, "axis", param=key, values=tuple(values))

    def axis_values(self, param: str, choices: list[Any], file: SourceFile) -> list[Any] | None:
        convert: Callable[[Any], Any]
        if param == "pe":

            def convert(item: Any) -> Any:
                if isinstance(item, Tree) and item.data == "pe_type":
                    return self.pe_type(item, file)
                return self._wrong_choice(item, file, "a PE type")
        elif param == "array":

            def convert(item: Any) -> Any:
                if isinstance(item, Token) and item.type == "DIMS":
                    dims = self.dims(item, file, 2, "array")
                    return tuple(dims) if dims else None
                return self._wrong_choice(item, file, "an array shape like 12 x 14")
        elif param == "spad":

            def convert(item: Any) -> Any:
                if isinstance(item, Token) and item.type == "NUMBER":
                    return self.integer(item, file, "scratchpad size in words", 1)
                return self._wrong_choice(item, file, "a size in words")
        else:
            unit_tables: dict[str, tuple[Mapping[str, float], str]] = {
                "glb": (_SIZE_UNITS, "global buffer size"),
                "dram": (_RATE_UNITS, "DRAM bandwidth"),
                "clock": (_CLOCK_UNITS, "clock"),
            }
            units, what = unit_tables[param]

            def convert(item: Any) -> Any:
                if isinstance(item, Tree) and item.data == "quantity":
                    if param == "glb":
                        return self.size_bytes(item, file, what)
                    return self.quantity(item, file, units, what)
                return self._wrong_choice(item, file, f"a {what} with its unit")

        items = choices[0].children if choices and choices[0].data == "range" else None
        if items is not None:
            return self.range_values(choices[0], convert, file)
        values = [convert(c.children[0]) for c in choices]
        return None if any(v is None for v in values) else values

    def _wrong_choice(self, item: Any, file: SourceFile, wanted: str) -> None:
        self.sink.error(f"expected {wanted}", span_of(file, item))
        return None

    def range_values(
        self, tree: Tree, convert: Callable[[Any], Any], file: SourceFile
    ) -> list[Any] | None:
        low_item, high_item, step_token = tree.children
        low, high = convert(low_item), convert(high_item)
        if low is None or high is None:
            return None
        if not isinstance(low, (int, float)) or isinstance(low, tuple):
            self.sink.error("only sizes, bandwidths and clocks take a range", span_of(file, tree))
            return None
        step = str(step_token)
        span = span_of(file, step_token)
        if high < low:

            def said(item: Any) -> str:
                part = span_of(file, item)
                return " ".join(file.text[part.start : part.end].split())

            self.sink.error(
                f"empty range: {said(high_item)} is below {said(low_item)}", span_of(file, tree)
            )
            return None
        values: list[Any] = []
        if step.startswith("*"):
            factor = float(step[1:])
            if factor <= 1:
                self.sink.error("a geometric step must be greater than 1", span)
                return None
            count = math.floor(math.log(high / low, factor) + 1e-9) + 1
            if count > MAX_SWEEP_VALUES:
                self.sink.error(f"range has {count} values (at most {MAX_SWEEP_VALUES})", span)
                return None
            value = low
            while value <= high * (1 + 1e-12):
                values.append(value)
                value = value * factor
        else:
            inc = float(step.lstrip("+"))
            if inc <= 0:
                self.sink.error("an arithmetic step must be greater than 0", span)
                return None
            count = math.floor((high - low) / inc + 1e-9) + 1
            if count > MAX_SWEEP_VALUES:
                self.sink.error(f"range has {count} values (at most {MAX_SWEEP_VALUES})", span)
                return None
            values = [low + i * inc for i in range(count)]
        if isinstance(low, int):
            if any(not float(v).is_integer() for v in values):
                self.sink.error("this range steps to values that are not whole numbers", span)
                return None
            values = [int(round(v)) for v in values]
        return values


class _NetworkExpander:
    """Expands one network's statements (blocks included) into a flat, ordered layer list."""

    def __init__(self, lowerer: _Lowerer, name: str, file: SourceFile) -> None:
        self.lowerer = lowerer
        self.sink = lowerer.sink
        self.name = name
        self.file = file
        self.layers: list[Any] = []
        self.defined: dict[str, Span] = {}
        self.aliases: dict[str, str] = {}
        self.ok = True
        # every name the network (or the block being expanded) declares, to tell "used before
        # it is defined" apart from "unknown"
        self.declared: dict[str, Span] = {}
        self.block_declared: dict[str, Span] = {}

    def run(self, tree: Tree) -> ir.Network | None:
        name_token, *body = tree.children
        local_blocks: dict[str, tuple[Tree, SourceFile]] = {}
        input_shape = None
        input_span: Span | None = None
        prev = ir.NETWORK_INPUT
        for stmt in body:
            if isinstance(stmt, Tree) and stmt.data in ("conv", "fc", "pool", "add"):
                self.declared.setdefault(str(stmt.children[0]), span_of(self.file, stmt))
            elif isinstance(stmt, Tree) and stmt.data == "use":
                self.declared.setdefault(str(stmt.children[1]), span_of(self.file, stmt))
        for stmt in body:
            if not isinstance(stmt, Tree):
                continue
            span = span_of(self.file, stmt)
            if stmt.data == "input_stmt":
                if input_span is not None:
                    self.error("'input' is set twice", span, note("first set here", input_span))
                    continue
                input_span = span
                dims = self.lowerer.dims(stmt.children[0], self.file, 3, "input")
                if dims is None:
                    self.ok = False
                    continue
                input_shape = ir.Shape(c=dims[0], h=dims[1], w=dims[2], span=span)
            elif stmt.data == "block":
                bname = str(stmt.children[0])
                if bname in local_blocks:
                    self.error(f"duplicate block '{bname}'", span_of(self.file, stmt.children[0]))
                    continue
                local_blocks[bname] = (stmt, self.file)
            elif stmt.data == "use":
                prev = self.use(stmt, local_blocks, prev)
            else:
                layer = self.layer(stmt, self.file, {}, None, "", prev, self.scope_lookup)
                if layer is not None:
                    self.add(layer)
                    prev = layer.name
                else:
                    prev = self.fallback(stmt)
        if input_shape is None and input_span is None:
            self.error(
                f"network '{self.name}' does not set its input (e.g. input 3 x 224 x 224)",
                span_of(self.file, name_token),
            )
        if not self.layers and self.ok:
            self.error(f"network '{self.name}' has no layers", span_of(self.file, name_token))
        if not self.ok or input_shape is None:
            return None
        return self.lowerer.build(  # type: ignore[no-any-return]
            ir.Network,
            span_of(self.file, tree),
            f"network '{self.name}'",
            name=self.name,
            input=input_shape,
            layers=tuple(self.layers),
        )

    def error(self, message: str, span: Span, *notes: Any) -> None:
        self.ok = False
        self.sink.error(message, span, *notes)

    def fallback(self, stmt: Tree) -> str:
        """After a broken layer, later layers still chain to it by name (no error cascade)."""
        name = str(stmt.children[0])
        self.aliases.setdefault(name, name)
        self.defined.setdefault(name, span_of(self.file, stmt))
        return name

    def add(self, layer: Any) -> None:
        if layer.name in self.defined or layer.name == ir.NETWORK_INPUT:
            first = self.defined.get(layer.name)
            notes = [note("first defined here", first)] if first else []
            self.error(
                f"duplicate layer '{layer.name}' in network '{self.name}'", layer.span, *notes
            )
            return
        self.defined[layer.name] = layer.span
        self.aliases[layer.name] = layer.name
        self.layers.append(layer)

    def scope_lookup(self, ref: str) -> str | None:
        if ref == ir.NETWORK_INPUT:
            return ref
        return self.aliases.get(ref)

    def use(self, stmt: Tree, local_blocks: dict[str, tuple[Tree, SourceFile]], prev: str) -> str:
        block_token, inst_token, *args = stmt.children
        bname, inst = str(block_token), str(inst_token)
        found = local_blocks.get(bname) or self.lowerer.defs.blocks.get(bname)
        if found is None:
            known = [*local_blocks, *self.lowerer.defs.blocks]
            self.error(
                f"unknown block '{bname}'" + did_you_mean(bname, known),
                span_of(self.file, block_token),
            )
            return self._broken_instance(inst, stmt)
        block_tree, block_file = found
        params = [str(p) for p in block_tree.children[1:] if isinstance(p, Token)]
        body = [c for c in block_tree.children[1:] if isinstance(c, Tree)]
        given = self.lowerer.args(list(args), self.file)
        if given is None:
            self.ok = False
            return self._broken_instance(inst, stmt)
        bound: dict[str, Token] = {}
        for key, (token, key_span) in given.items():
            if key not in params:
                self.error(
                    f"block '{bname}' has no parameter '{key}'"
                    + (did_you_mean(key, params) or f" (it takes {', '.join(params) or 'none'})"),
                    key_span,
                )
                continue
            if token.type != "NUMBER" or not str(token).isdigit():
                if str(token) not in ("depthwise",):
                    self.error(
                        f"argument '{key}' must be a whole number (got '{token}')", key_span
                    )
                    continue
            bound[key] = token
        missing = [p for p in params if p not in given]
        if missing:
            self.error(
                f"'use {bname}' does not give {', '.join(missing)}",
                span_of(self.file, stmt),
                note(f"block '{bname}' declared here", span_of(block_file, block_tree)),
            )
        if not self.ok:
            return self._broken_instance(inst, stmt)
        local: dict[str, str] = {"in": prev}
        last = prev
        self.block_declared = {}
        for layer_tree in body:
            self.block_declared.setdefault(
                str(layer_tree.children[0]), span_of(block_file, layer_tree)
            )
        for layer_tree in body:

            def lookup(ref: str, local: dict[str, str] = local) -> str | None:
                return local.get(ref)

            layer = self.layer(layer_tree, block_file, bound, bname, f"{inst}.", last, lookup)
            lname = str(layer_tree.children[0])
            if lname == "in":
                self.error(
                    "'in' names a block's input and cannot name a layer",
                    span_of(block_file, layer_tree.children[0]),
                )
                continue
            if lname in local and lname != "in":
                self.error(
                    f"duplicate layer '{lname}' in block '{bname}'",
                    span_of(block_file, layer_tree.children[0]),
                )
                continue
            local[lname] = f"{inst}.{lname}"
            if layer is not None:
                self.add(layer)
            last = f"{inst}.{lname}"
        if not body:
            self.error(f"block '{bname}' has no layers", span_of(block_file, block_tree))
        if inst in self.aliases or inst == ir.NETWORK_INPUT:
            self.error(
                f"duplicate layer '{inst}' in network '{self.name}'",
                span_of(self.file, inst_token),
            )
        self.aliases[inst] = last
        self.defined.setdefault(inst, span_of(self.file, stmt))
        return last

    def _broken_instance(self, inst: str, stmt: Tree) -> str:
        self.aliases.setdefault(inst, inst)
        self.defined.setdefault(inst, span_of(self.file, stmt))
        return inst

    def layer(
        self,
        tree: Tree,
        file: SourceFile,
        bound: dict[str, Token],
        block: str | None,
        prefix: str,
        prev: str,
        lookup: Callable[[str], str | None],
    ) -> Any:
        kind = tree.data
        name_token = tree.children[0]
        name = prefix + str(name_token)
        span = span_of(file, tree)
        rest = list(tree.children[1:])
        op = None
        if kind == "pool":
            op = str(rest.pop(0))
        attrs: dict[str, tuple[list[Any], Span]] = {}
        flags: set[str] = set()
        ok = True
        for attr in rest:
            aspan = span_of(file, attr)
            if attr.data in ("flag", "global_flag"):
                flag = "global" if attr.data == "global_flag" else str(attr.children[0])
                allowed = _LAYER_FLAGS[kind] | ({"global"} if kind == "pool" else set())
                if flag not in allowed:
                    if flag in _LAYER_ATTRS[kind]:
                        message = f"'{flag}' needs a value ({flag}=...)"
                    elif flag in ("relu", "global"):
                        message = f"{kind} layers have no option '{flag}'"
                    else:
                        message = f"{kind} layers have no option '{flag}'" + did_you_mean(
                            flag, allowed | _LAYER_ATTRS[kind]
                        )
                    self.error(message, aspan)
                    ok = False
                elif flag in flags:
                    self.error(f"'{flag}' is given twice", aspan)
                    ok = False
                flags.add(flag)
                continue
            key_token, *values = attr.children
            key = str(key_token)
            if key not in _LAYER_ATTRS[kind]:
                self.error(
                    f"{kind} layers have no attribute '{key}'"
                    + did_you_mean(key, _LAYER_ATTRS[kind] | _LAYER_FLAGS[kind]),
                    span_of(file, key_token),
                )
                ok = False
                continue
            if key in attrs:
                self.error(
                    f"'{key}' is given twice", aspan, note("first given here", attrs[key][1])
                )
                ok = False
                continue
            tokens = [v.children[0] for v in values]
            if key != "from" and len(tokens) != 1:
                self.error(f"'{key}' takes one value", aspan)
                ok = False
                continue
            attrs[key] = (tokens, aspan)
        if not ok:
            self.ok = False
            return None
        located = {
            field: aspan
            for key, (_, aspan) in attrs.items()
            for field in _ATTR_FIELDS[kind].get(key, (key,))
        }
        if "global" in flags:
            located["global_"] = next(span_of(file, a) for a in rest if a.data == "global_flag")
        field_spans = tuple(sorted(located.items()))

        def number(key: str, default: int | None, minimum: int, dims: int = 1) -> Any:
            if key not in attrs:
                if default is None:
                    self.error(f"{kind} layer '{name}' needs {key}=", span)
                return default
            token = attrs[key][0][0]
            depthwise = key == "groups" and str(token) == "depthwise"
            if (
                token.type == "NAME"
                and block is not None
                and not (depthwise and str(token) not in bound)
            ):
                if str(token) not in bound:
                    self.error(
                        f"unknown parameter '{token}' in block '{block}'"
                        + did_you_mean(str(token), bound),
                        span_of(file, token),
                    )
                    return None
                token = bound[str(token)]
            if token.type == "DIMS":
                if dims != 2:
                    self.error(f"'{key}' takes one number", span_of(file, token))
                    return None
                parts = [int(p) for p in str(token).replace("×", "x").split("x")]
                if len(parts) != 2:
                    self.error(f"'{key}' takes N or RxS", span_of(file, token))
                    return None
                if min(parts) < minimum:
                    self.error(f"{key} must be at least {minimum}", span_of(file, token))
                    return None
                if max(parts) > MAX_INTEGER:
                    self.error(f"{key} must be at most {MAX_INTEGER}", span_of(file, token))
                    return None
                return tuple(parts)
            if token.type == "NAME" and key == "groups" and str(token) == "depthwise":
                return "depthwise"
            if token.type == "NAME":
                self.error(f"'{token}' is not a number here", span_of(file, token))
                return None
            value = self.lowerer.integer(token, file, key, minimum)
            if value is None:
                self.ok = False
            return (value, value) if dims == 2 and value is not None else value

        sources: tuple[str, ...]
        if "from" in attrs:
            refs = []
            for token in attrs["from"][0]:
                if token.type != "NAME":
                    self.error(f"'from=' names layers, got '{token}'", span_of(file, token))
                    return None
                resolved = lookup(str(token))
                if resolved is None and str(token) == str(name_token):
                    self.error(
                        f"layer '{token}' cannot take its own output as input",
                        span_of(file, token),
                    )
                    return None
                later = (self.block_declared if block else self.declared).get(str(token))
                if resolved is None and later is not None and later.start > span.start:
                    self.error(
                        f"layer '{token}' is used before it is defined (layers are listed in "
                        "order, inputs first)",
                        span_of(file, token),
                        note(f"'{token}' is defined here", later),
                    )
                    return None
                if resolved is None:
                    where = f"block '{block}'" if block else f"network '{self.name}'"
                    candidates = ["in"] if block else [ir.NETWORK_INPUT]
                    self.error(
                        f"unknown layer '{token}' in {where}"
                        + did_you_mean(str(token), [*candidates, *self._visible(block, lookup)]),
                        span_of(file, token),
                    )
                    return None
                refs.append(resolved)
            sources = tuple(refs)
        else:
            sources = (prev,)
        if kind == "add":
            if len(sources) < 2:
                self.error(f"add layer '{name}' needs from= two or more layers", span)
                return None
            return self.lowerer.build(
                ir.Add,
                span,
                f"layer '{name}'",
                name=name,
                field_spans=field_spans,
                inputs=sources,
                relu="relu" in flags,
            )
        if len(sources) != 1:
            self.error(
                f"{kind} layer '{name}' takes one input (from= names one layer)", attrs["from"][1]
            )
            return None
        if kind == "conv":
            out = number("out", None, 1)
            kernel = number("kernel", None, 1, dims=2)
            stride = number("stride", 1, 1)
            pad = number("pad", 0, 0)
            groups = number("groups", 1, 1)
            if None in (out, kernel, stride, pad, groups):
                self.ok = False
                return None
            return self.lowerer.build(
                ir.Conv,
                span,
                f"layer '{name}'",
                name=name,
                field_spans=field_spans,
                inputs=sources,
                out_channels=out,
                kernel_h=kernel[0],
                kernel_w=kernel[1],
                stride=stride,
                pad=pad,
                groups=groups,
                relu="relu" in flags,
            )
        if kind == "fc":
            out = number("out", None, 1)
            if out is None:
                self.ok = False
                return None
            return self.lowerer.build(
                ir.FC,
                span,
                f"layer '{name}'",
                name=name,
                field_spans=field_spans,
                inputs=sources,
                out_features=out,
                relu="relu" in flags,
            )
        glob = "global" in flags
        if glob and any(k in attrs for k in ("kernel", "stride", "pad")):
            self.error("a global pool takes no kernel, stride or pad", span)
            return None
        kernel = number("kernel", 1 if glob else None, 1)
        stride = number("stride", kernel if isinstance(kernel, int) else 1, 1)
        pad = number("pad", 0, 0)
        if None in (kernel, stride, pad):
            self.ok = False
            return None
        return self.lowerer.build(
            ir.Pool,
            span,
            f"layer '{name}'",
            name=name,
            field_spans=field_spans,
            inputs=sources,
            op=op,
            kernel=kernel,
            stride=stride,
            pad=pad,
            global_=glob,
        )

    def _visible(self, block: str | None, lookup: Callable[[str], str | None]) -> Iterator[str]:
        if block is None:
            yield from self.aliases
        else:
            defaults = getattr(lookup, "__defaults__", None) or ()
            for scope in defaults:
                if isinstance(scope, dict):
                    yield from scope
