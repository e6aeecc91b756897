"""The command line: arguments in, exit codes out. No compiler logic lives here.

Exit codes: 0 ok, 1 design errors, 2 usage, 123 internal error. stdout carries only the
requested payload (tables, schema); diagnostics and chatter go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from qappac import __version__
from qappac.source import DesignError, DiagnosticSink, error

EXIT_OK, EXIT_DESIGN, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 123


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"qappac: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qappac",
        description="Quantization-aware PPA compiler for row-stationary DNN accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"qappac {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    check = verbs.add_parser("check", help="parse and check .qa files")
    check.add_argument("files", nargs="+", metavar="FILE")

    build = verbs.add_parser("build", help="build the designs of a .qa file")
    build.add_argument("file", metavar="FILE")
    build.add_argument(
        "-o", "--out", default="out", metavar="DIR", help="output folder (default: out)"
    )
    build.add_argument("--design", metavar="NAME", help="build only this design")
    build.add_argument(
        "--no-src", action="store_true", help="leave source locations out of generated files"
    )
    build.add_argument(
        "--models", metavar="JSON", help="PPA models (default: the ones that ship with qappac)"
    )

    show = verbs.add_parser("show", help="print a table about a definition")
    show.add_argument("what", choices=["network"])
    show.add_argument("file", metavar="FILE")
    show.add_argument("name", metavar="NAME")

    verbs.add_parser("schema", help="print the JSON Schema of the IR")

    char = verbs.add_parser(
        "characterize",
        help="synthesize the default grid of PEs and accelerator shells; write the PPA dataset",
    )
    char.add_argument("-o", "--out", default="dataset.csv", metavar="CSV")
    char.add_argument("--liberty", metavar="LIB", help="liberty file (default: $QAPPAC_LIBERTY)")
    char.add_argument(
        "--activity",
        choices=("uniform", "simulated"),
        default="simulated",
        help="power with the switching activity of a layer simulated on the accelerator, "
        "per input and per flop of the array PE and of the shell (default), or at one "
        "input toggle rate on the stand-alone PE and the shell (faster, less faithful)",
    )
    char.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="job cache (default: ~/.cache/qappac/characterize); a re-run resumes from it",
    )
    char.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="local worker processes (default: all CPUs)",
    )
    char.add_argument(
        "--scheduler", metavar="ADDR", help="run on a Dask cluster, e.g. tcp://host:8786"
    )
    char.add_argument(
        "--retry-failed", action="store_true", help="run again the jobs that failed before"
    )
    char.add_argument(
        "--resume-from",
        metavar="CSV",
        help="first import the finished jobs of a dataset CSV (e.g. a committed partial run) "
        "into the cache; only jobs with the same key (RTL, liberty, tools, flow) are skipped",
    )

    sim = verbs.add_parser("sim", help="simulate generated RTL against the numpy reference")
    sim.add_argument("file", metavar="FILE")
    what = sim.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--pe",
        action="store_true",
        help="simulate one PE of the accelerator (random primitives)",
    )
    what.add_argument(
        "--layer",
        metavar="NAME",
        help="run one conv/FC layer of the design on the whole accelerator's RTL",
    )
    sim.add_argument(
        "--design",
        metavar="NAME",
        help="the design whose accelerator to simulate (default: the first)",
    )
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--primitives", type=int, default=200, metavar="N")

    exp = verbs.add_parser("explore", help="evaluate the design spaces of a .qa file")
    exp.add_argument("file", metavar="FILE")
    exp.add_argument("-o", "--out", default="out", metavar="DIR")
    exp.add_argument("--name", metavar="NAME", help="only this explore block")
    exp.add_argument("--models", metavar="JSON", help="PPA models (default: the shipped ones)")
    exp.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="local worker processes (default: 1, in-process)",
    )
    exp.add_argument("--scheduler", metavar="ADDR", help="run on a Dask cluster")

    fit = verbs.add_parser("fit", help="fit polynomial PPA models to a dataset CSV")
    fit.add_argument("dataset", metavar="CSV")
    fit.add_argument("-o", "--out", required=True, metavar="JSON")
    fit.add_argument("--plot", metavar="FILE", help="draw actual vs predicted (.png or .svg)")
    return parser


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run qappac; returns the exit code (never raises for a user error)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    try:
        return _dispatch(args, out, err)
    except DesignError as exc:
        for diag in exc.diagnostics:
            err.write(diag.render() + "\n")
        errors = sum(d.severity == "error" for d in exc.diagnostics)
        err.write(f"{errors} error{'s' if errors != 1 else ''}\n")
        return EXIT_DESIGN
    except KeyboardInterrupt:
        err.write("qappac: interrupted\n")
        return 130
    except Exception:  # noqa: BLE001 - the last line of defence: report, never crash
        err.write("qappac: internal error, please report it with this trace:\n")
        err.write(traceback.format_exc())
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from qappac import build as pipeline

    if args.verb == "check":
        failed = False
        for file in args.files:
            try:
                program = pipeline.compile_file(file)
            except DesignError as exc:
                failed = True
                for diag in exc.diagnostics:
                    err.write(diag.render() + "\n")
                continue
            counts = [
                _plural(len(program.accelerators), "accelerator"),
                _plural(len(program.networks), "network"),
                _plural(len(program.designs), "design"),
                _plural(len(program.explores), "explore"),
            ]
            err.write(f"{file}: ok ({', '.join(counts)})\n")
        return EXIT_DESIGN if failed else EXIT_OK
    if args.verb == "build":
        options = pipeline.Options(
            out_dir=Path(args.out),
            design=args.design,
            no_src=args.no_src,
            models=Path(args.models) if args.models else None,
        )
        sink = DiagnosticSink()
        folders = pipeline.build(args.file, options, sink)
        for diag in sink.sorted():
            err.write(diag.render() + "\n")
        for folder in folders:
            err.write(f"wrote {folder}\n")
        return EXIT_OK
    if args.verb == "show":
        from qappac.report import network_table

        program = pipeline.compile_file(args.file)
        networks = {n.name: n for n in program.networks}
        if args.name not in networks:
            from qappac.source import did_you_mean

            raise DesignError(
                [
                    error(
                        f"{args.file} has no network '{args.name}'"
                        + did_you_mean(args.name, networks)
                    )
                ]
            )
        out.write(network_table(networks[args.name]) + "\n")
        return EXIT_OK
    if args.verb == "explore":
        from qappac.executor import make_executor

        options = pipeline.Options(out_dir=Path(args.out))
        executor = None
        if args.scheduler or args.jobs != 1:
            executor = make_executor(args.jobs, args.scheduler)
        try:
            with _progress(err, "evaluating designs") as progress:
                folders = pipeline.explore(
                    args.file, options, args.name, args.models, executor, progress
                )
        finally:
            if executor is not None:
                executor.close()
        for folder in folders:
            err.write(f"wrote {folder}\n")
        return EXIT_OK
    if args.verb == "sim" and args.layer is not None:
        return _simulate_layer(args, out, err)
    if args.verb == "sim":
        return _simulate_pe(args, out, err)
    if args.verb == "characterize":
        return _characterize(args, err)
    if args.verb == "fit":
        from qappac.ppa.fit import fit_csv

        if not Path(args.dataset).is_file():
            raise DesignError([error(f"cannot read '{args.dataset}': no such file")])
        models = fit_csv(args.dataset, args.out, plot_path=args.plot)
        err.write(f"wrote {args.out} ({len(models.models)} PE types)\n")
        return EXIT_OK
    assert args.verb == "schema"
    from qappac.ir import Program

    out.write(json.dumps(Program.model_json_schema(), indent=2, sort_keys=True) + "\n")
    return EXIT_OK


@contextlib.contextmanager
def _progress(err: TextIO, what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (rich), nothing otherwise (logs and CI stay quiet)."""
    if not err.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _simulate_pe(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from qappac import build as pipeline
    from qappac.sim_pe import describe, simulate_accelerator_pe
    from qappac.tools import ToolMissingError

    program = pipeline.compile_file(args.file)
    if program.designs:
        accel = pipeline.select_designs(program, args.design, args.file)[0].accelerator
    elif program.accelerators and args.design is None:
        accel = program.accelerators[0]
    else:
        raise DesignError([error(f"{args.file} defines no design or accelerator to simulate")])
    try:
        result = simulate_accelerator_pe(accel, seed=args.seed, n_primitives=args.primitives)
    except ToolMissingError as exc:
        err.write(f"qappac: error: {exc}\n")
        return EXIT_USAGE
    out.write(describe(result) + "\n")
    if not result.ok or result.cycles != result.expected_cycles:
        err.write(
            "qappac: internal error: the simulated PE disagrees with the reference; "
            f"please report it with the spec and --seed {args.seed}\n"
        )
        return EXIT_INTERNAL
    return EXIT_OK


def _simulate_layer(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`qappac sim FILE --layer NAME`: the layer's schedule as `qappac build` makes it, run on
    the generated RTL; outputs, cycles and counters must all match (docs/accelerator.md)."""
    from qappac import build as pipeline
    from qappac.dataflow.schedule import schedule_layer
    from qappac.shapes import layer_shapes
    from qappac.sim_accel import describe, simulate_layer
    from qappac.source import Diagnostic, did_you_mean
    from qappac.tools import ToolMissingError

    program = pipeline.compile_file(args.file)
    design = pipeline.select_designs(program, args.design, args.file)[0]
    shapes = {shape.name: shape for shape in layer_shapes(design.network)}
    if args.layer not in shapes:
        hint = did_you_mean(args.layer, list(shapes))
        raise DesignError([error(f"design '{design.name}' has no layer '{args.layer}'{hint}")])
    shape = shapes[args.layer]
    if not shape.is_mac:
        declared = next(layer for layer in design.network.layers if layer.name == args.layer)
        message = (
            f"layer '{args.layer}' is a {shape.kind} layer: it runs on the vector unit beside "
            "the GLB, which has no RTL yet; only conv and fc layers simulate"
        )
        raise DesignError([Diagnostic("error", message, declared.span)])
    running, table = pipeline.running_design(design, pipeline.load_models(None))
    acc = running.accelerator
    sched = schedule_layer(shape, acc, running.batch, running.objective, table)
    assert sched.mapping is not None
    try:
        result = simulate_layer(shape, acc, running.batch, sched.mapping, seed=args.seed)
    except ToolMissingError as exc:
        err.write(f"qappac: error: {exc}\n")
        return EXIT_USAGE
    out.write(describe(result) + "\n")
    if not result.ok:
        err.write(
            "qappac: internal error: the RTL disagrees with the reference or the model; "
            f"please report it with the spec and --seed {args.seed}\n"
        )
        return EXIT_INTERNAL
    return EXIT_OK


def _characterize(args: argparse.Namespace, err: TextIO) -> int:
    import os

    from qappac.characterize import (
        Config,
        FlowOptions,
        ShellConfig,
        characterize,
        default_configs,
        default_shell_configs,
        seed_cache,
        write_dataset,
    )
    from qappac.executor import make_executor

    liberty = args.liberty or os.environ.get("QAPPAC_LIBERTY")
    if not liberty or not Path(liberty).is_file():
        raise DesignError(
            [
                error(
                    "no liberty file: pass --liberty or set QAPPAC_LIBERTY "
                    "(e.g. shared/pdk/nangate45/NangateOpenCellLibrary_typical.lib)"
                )
            ]
        )
    cache = Path(args.cache) if args.cache else Path.home() / ".cache/qappac/characterize"
    if args.resume_from:
        seeded = seed_cache(args.resume_from, cache)
        err.write(f"imported {seeded} finished jobs from {args.resume_from}\n")
    configs: list[Config | ShellConfig] = [*default_configs(), *default_shell_configs()]
    shells = len(configs) - len(default_configs())
    err.write(
        f"characterizing {len(configs) - shells} PE configurations and {shells} accelerator "
        f"shells (cache: {cache})\n"
    )
    executor = make_executor(args.jobs, args.scheduler)
    try:
        results = characterize(
            configs,
            cache,
            executor,
            options=FlowOptions(activity=args.activity),
            liberty=Path(liberty),
            retry_failed=args.retry_failed,
        )
    finally:
        executor.close()
    failed = [r for r in results if r.get("status") != "ok"]
    for result in failed:
        err.write(
            f"warning: job {result.get('key', '?')[:12]} failed: "
            f"{result.get('error', '?')} (log: {result.get('log', '?')})\n"
        )
    write_dataset(results, args.out)
    err.write(f"wrote {args.out} ({len(results) - len(failed)} ok, {len(failed)} failed)\n")
    return EXIT_OK


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
