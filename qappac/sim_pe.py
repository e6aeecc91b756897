"""Bit-exact simulation of one PE against the numpy reference of `qappac.numerics`.

`simulate_pe` draws random row-stationary primitives (random P, Q, S, stride, row length,
rows, psum-in) within the scratchpad limits, with values from the format's corner cases as
well as uniform codes, feeds them to a Verilator build of `qappac.rtl_pe.emit_pe` only
through the PE's ports, and compares every psum with `NumberFormat.reference_primitive`,
bit for bit. Cycles per primitive are measured from the configuration handshake.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from qappac.ir import Accelerator, PEType
from qappac.numerics import FP_QNAN, NumberFormat, format_of
from qappac.rtl_pe import SIM_TOP, emit_sim_top, primitive_cycles
from qappac.tools.verilator import Verilator, build_cpp_simulation

Codes = npt.NDArray[np.int64]

KINDS_INT = ("uniform", "uniform", "uniform", "extreme", "zeros", "wrap")
KINDS_FP = ("normal", "normal", "normal", "ties", "tiny", "huge", "specials", "zeros")


@dataclass(frozen=True)
class Primitive:
    """One configuration of the PE and the data it processes."""

    filt: Codes  # [p, q, s] weight codes
    ifmaps: tuple[Codes, ...]  # per row: [q, w] activation codes
    psum_in: tuple[Codes, ...] | None  # per row: [p, e] psum codes, or None
    stride: int
    kind: str

    @property
    def shape(self) -> tuple[int, int, int]:
        p, q, s = self.filt.shape
        return int(p), int(q), int(s)

    @property
    def width(self) -> int:
        return int(self.ifmaps[0].shape[1])

    @property
    def cols(self) -> int:
        return (self.width - self.shape[2]) // self.stride + 1

    @property
    def macs(self) -> int:
        p, q, s = self.shape
        return len(self.ifmaps) * self.cols * p * q * s

    def expected_cycles(self) -> int:
        """Cycles with inputs always valid and outputs always ready (docs/pe.md)."""
        p, q, s = self.shape
        return primitive_cycles(p, q, s, self.stride, self.width, len(self.ifmaps))


@dataclass(frozen=True)
class SimResult:
    """What one simulation run found."""

    pe: str
    primitives: int
    macs: int
    psums: int
    mismatches: tuple[str, ...]
    cycles: tuple[int, ...]
    expected_cycles: tuple[int, ...]
    sim_seconds: float
    build_seconds: float
    kinds: dict[str, int] = field(default_factory=dict)
    outputs: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def macs_per_second(self) -> float:
        return self.macs / self.sim_seconds if self.sim_seconds > 0 else float("inf")


def describe(result: SimResult) -> str:
    """A short human summary of a run (what `qappac sim --pe` prints).

    >>> print(describe(SimResult("int8", 2, 100, 10, (), (5, 6), (5, 6), 0.5, 1.0)))
    int8: 2 primitives, 100 MACs, 10 psums bit-exact; cycles as modelled; 200 MACs/s
    """
    verdict = "bit-exact" if result.ok else f"{len(result.mismatches)} MISMATCHES"
    timing = (
        "cycles as modelled"
        if result.cycles == result.expected_cycles
        else f"{sum(result.cycles)} cycles (model {sum(result.expected_cycles)})"
    )
    lines = [
        f"{result.pe}: {result.primitives} primitives, {result.macs} MACs, "
        f"{result.psums} psums {verdict}; {timing}; {result.macs_per_second:.3g} MACs/s"
    ]
    lines += [f"  {m}" for m in result.mismatches[:10]]
    return "\n".join(lines)


def simulate_pe(
    pe: PEType,
    spads: tuple[int, int, int],
    seed: int,
    n_primitives: int,
    *,
    stall_percent: int = 0,
    max_rows: int = 3,
    max_extra_width: int = 12,
    tool: Verilator | None = None,
    optimize: str = "-O0",
) -> SimResult:
    """Simulate ``n_primitives`` random primitives on the PE of ``pe``.

    ``spads`` = (ifmap, filter, psum) scratchpad words. With ``stall_percent`` > 0 every
    port's valid/ready is withheld at random; measured cycles then exceed the model.
    ``optimize`` is the C++ optimization level of the build (see `build_simulation`).

    >>> pe = PEType(family="int", act_bits=8, weight_bits=8)
    >>> simulate_pe(pe, (12, 224, 24), seed=1, n_primitives=5).ok  # doctest: +SKIP
    True
    """
    fmt = format_of(pe)
    if fmt.acc_bits > 64 or fmt.act_bits > 64:
        raise ValueError("the testbench drives at most 64-bit ports")
    start = time.perf_counter()
    exe = build_simulation(pe, spads, tool, optimize)
    build_seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    prims = [
        random_primitive(fmt, spads, rng, max_rows=max_rows, max_extra_width=max_extra_width)
        for _ in range(n_primitives)
    ]
    return run_primitives(fmt, exe, prims, seed, stall_percent, build_seconds)


def simulate_accelerator_pe(
    accel: Accelerator, seed: int = 0, n_primitives: int = 200, **options: Any
) -> SimResult:
    """`simulate_pe` for an accelerator's PE type and scratchpad sizes (``qappac sim --pe``)."""
    spads = (accel.spad_ifmap, accel.spad_filter, accel.spad_psum)
    return simulate_pe(accel.pe, spads, seed, n_primitives, **options)


def build_simulation(
    pe: PEType,
    spads: tuple[int, int, int],
    tool: Verilator | None = None,
    optimize: str = "-O0",
) -> Path:
    """The (cached) simulation executable of the PE and its requantizer.

    ``optimize`` is the C++ optimization level: ``-O0`` builds fastest (tests run few
    cycles), ``-O2`` simulates fastest (benchmarks).
    """
    return build_cpp_simulation(
        emit_sim_top(pe, *spads), SIM_TOP, _bench(), tool=tool, optimize=optimize
    )


def run_primitives(
    fmt: NumberFormat,
    exe: Path,
    prims: list[Primitive],
    seed: int,
    stall_percent: int,
    build_seconds: float = 0.0,
) -> SimResult:
    """Run given primitives on a built simulation and compare with the reference."""
    with tempfile.TemporaryDirectory(prefix="qappac-sim-") as tmp:
        stim, out = Path(tmp) / "stim.txt", Path(tmp) / "out.txt"
        stim.write_text(_stimulus(prims))
        budget = 100 * sum(p.expected_cycles() for p in prims) * (1 + stall_percent) + 1000
        start = time.perf_counter()
        proc = subprocess.run(
            [str(exe), str(stim), str(out), str(stall_percent), str(seed), str(budget)],
            capture_output=True,
            text=True,
            check=False,
        )
        sim_seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"PE simulation failed: {proc.stdout}{proc.stderr}")
        outputs, fires, end = _parse(out.read_text())
    mismatches = _compare(fmt, prims, outputs)
    marks = [*fires, end]
    cycles = tuple(marks[i + 1] - marks[i] for i in range(len(fires)))
    kinds: dict[str, int] = {}
    for p in prims:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return SimResult(
        pe=fmt.name,
        primitives=len(prims),
        macs=sum(p.macs for p in prims),
        psums=len(outputs),
        mismatches=tuple(mismatches),
        cycles=cycles,
        expected_cycles=tuple(p.expected_cycles() for p in prims),
        sim_seconds=sim_seconds,
        build_seconds=build_seconds,
        kinds=dict(sorted(kinds.items())),
        outputs=tuple(outputs),
    )


def expected_outputs(fmt: NumberFormat, prim: Primitive) -> list[int]:
    """The psums the PE must emit, in its output order (column-major, filter fastest)."""
    values: list[int] = []
    for r, ifmap in enumerate(prim.ifmaps):
        psum_in = prim.psum_in[r] if prim.psum_in is not None else None
        out = fmt.reference_primitive(prim.filt, ifmap, prim.stride, psum_in)
        values.extend(int(v) for v in np.asarray(out).T.ravel())
    return values


def _compare(fmt: NumberFormat, prims: list[Primitive], outputs: list[int]) -> list[str]:
    problems: list[str] = []
    at = 0
    for index, prim in enumerate(prims):
        want = expected_outputs(fmt, prim)
        got = outputs[at : at + len(want)]
        at += len(want)
        if len(got) < len(want):
            problems.append(f"primitive {index}: {len(got)} psums out of {len(want)}")
            break
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            if g != w:
                p, q, s = prim.shape
                problems.append(
                    f"primitive {index} ({prim.kind}, P={p} Q={q} S={s} stride={prim.stride} "
                    f"W={prim.width}) psum {k}: got {g:#x}, expected {w:#x}"
                )
                if len(problems) > 20:
                    return problems
    if at != len(outputs):
        problems.append(f"{len(outputs) - at} psums more than expected")
    return problems


def simulate_requant(
    pe: PEType,
    seed: int,
    n: int,
    *,
    spads: tuple[int, int, int] = (12, 224, 24),
    tool: Verilator | None = None,
) -> tuple[int, list[str]]:
    """Run ``n`` random (psum, shift, relu) through the RTL requantizer.

    Returns the number of cases and the mismatches with `NumberFormat.requantize`. Psums are
    drawn uniformly and next to the rounding and saturation boundaries.
    """
    fmt = format_of(pe)
    exe = build_simulation(pe, spads, tool)
    rng = np.random.default_rng(seed)
    bits = fmt.acc_bits
    if fmt.family == "fp":
        psums = _fp_codes(rng, (n,), "specials", scale=0)
        shifts = np.zeros(n, dtype=np.int64)
    else:
        shifts = rng.integers(0, bits, size=n)
        # around (act_max + 1/2) * 2^shift and its negative: where rounding meets saturation
        edge = (np.int64(2 * fmt.act_max + 1) << shifts.astype(np.int64)) >> 1
        near = edge + rng.integers(-3, 4, size=n)
        near = np.where(rng.random(n) < 0.5, near, -near - 1)
        uniform = rng.integers(0, 1 << min(bits, 62), size=n, dtype=np.int64)
        pick = rng.random(n) < 0.5
        psums = np.where(pick, near, uniform) & ((1 << bits) - 1)
        psums = np.where(shifts >= 62, uniform, psums)
    relus = rng.integers(0, 2, size=n)
    want = [
        int(fmt.requantize(int(c), int(sh), bool(r)))
        for c, sh, r in zip(psums.tolist(), shifts.tolist(), relus.tolist(), strict=True)
    ]
    with tempfile.TemporaryDirectory(prefix="qappac-requant-") as tmp:
        stim, out = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        stim.write_text(
            "".join(
                f"{c:x} {sh} {r}\n"
                for c, sh, r in zip(psums.tolist(), shifts.tolist(), relus.tolist(), strict=True)
            )
        )
        subprocess.run([str(exe), "requant", str(stim), str(out)], check=True, capture_output=True)
        got = [int(v, 16) for v in out.read_text().split()]
    problems = [
        f"psum {int(psums[i]):#x} shift {int(shifts[i])} relu {int(relus[i])}: "
        f"got {g:#x}, expected {w:#x}"
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if g != w
    ]
    return len(want), problems


def simulate_mac(
    pe: PEType,
    seed: int,
    n: int,
    *,
    spads: tuple[int, int, int] = (12, 224, 24),
    tool: Verilator | None = None,
) -> tuple[int, list[str]]:
    """Drive the PE's MAC unit directly with ``n`` random operand sets.

    Operands are uniform bit patterns mixed with the corner kinds of the PE stimulus (for
    fp32 every exponent difference and every special occurs). Both MAC modes are used:
    ``psum + act * weight`` and ``psum + other``. Returns the count and the mismatches with
    `NumberFormat.mac` / `NumberFormat.add`.
    """
    fmt = format_of(pe)
    exe = build_simulation(pe, spads, tool)
    rng = np.random.default_rng(seed)
    kinds = KINDS_FP if fmt.family == "fp" else KINDS_INT
    chunks = [max(1, n // len(kinds))] * len(kinds)
    chunks[0] += n - sum(chunks)
    columns: list[list[Codes]] = [[], [], [], []]
    for kind, size in zip(kinds, chunks, strict=True):
        columns[0].append(act_codes(fmt, rng, (size,), kind))
        columns[1].append(weight_codes(fmt, rng, (size,), kind))
        columns[2].append(psum_codes(fmt, rng, (size,), kind))
        columns[3].append(psum_codes(fmt, rng, (size,), kind))
    acts, weights, psums, others = (np.concatenate(c) for c in columns)
    if fmt.family == "fp":
        # uniform patterns too: all exponent differences, NaN payloads, subnormals
        uniform = rng.random(n) < 0.3
        for arr in (acts, weights, psums, others):
            arr[uniform] = rng.integers(0, 1 << 32, size=int(uniform.sum()), dtype=np.int64)
    sel = (rng.random(n) < 0.2).astype(np.int64)
    want = np.where(sel == 1, fmt.add(psums, others), fmt.mac(psums, acts, weights))
    with tempfile.TemporaryDirectory(prefix="qappac-mac-") as tmp:
        stim, out = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        cols = (acts, weights, psums, others, sel)
        rows = zip(*(c.tolist() for c in cols), strict=True)
        stim.write_text("".join(f"{a:x} {w:x} {p:x} {o:x} {s}\n" for a, w, p, o, s in rows))
        subprocess.run([str(exe), "mac", str(stim), str(out)], check=True, capture_output=True)
        got = [int(v, 16) for v in out.read_text().split()]
    problems = [
        f"act {int(acts[i]):#x} weight {int(weights[i]):#x} psum {int(psums[i]):#x} "
        f"other {int(others[i]):#x} sel {int(sel[i])}: got {g:#x}, expected {int(w):#x}"
        for i, (g, w) in enumerate(zip(got, want.tolist(), strict=True))
        if g != int(w)
    ]
    return len(want), problems


# --------------------------------------------------------------------------- stimulus


def random_primitive(
    fmt: NumberFormat,
    spads: tuple[int, int, int],
    rng: np.random.Generator,
    *,
    max_rows: int = 3,
    max_extra_width: int = 12,
    kind: str | None = None,
) -> Primitive:
    """A random primitive that fits the scratchpads (Q*S <= ifmap, P*Q*S <= filter, P <= psum)."""
    spad_ifmap, spad_filter, spad_psum = spads
    s = int(rng.integers(1, spad_ifmap + 1))
    q = int(rng.integers(1, spad_ifmap // s + 1))
    q = min(q, max(1, spad_filter // s))
    s = min(s, spad_filter // q)
    p = int(rng.integers(1, min(spad_psum, spad_filter // (q * s)) + 1))
    stride = int(rng.integers(1, s + 3))
    width = s + int(rng.integers(0, max_extra_width + 1))
    rows = int(rng.integers(1, max_rows + 1))
    cols = (width - s) // stride + 1
    kind = kind or str(rng.choice(KINDS_FP if fmt.family == "fp" else KINDS_INT))
    filt = weight_codes(fmt, rng, (p, q, s), kind)
    ifmaps = tuple(act_codes(fmt, rng, (q, width), kind) for _ in range(rows))
    psum_in = None
    if rng.random() < 0.5:
        psum_in = tuple(psum_codes(fmt, rng, (p, cols), kind) for _ in range(rows))
    return Primitive(filt, ifmaps, psum_in, stride, kind)


def act_codes(
    fmt: NumberFormat, rng: np.random.Generator, shape: tuple[int, ...], kind: str
) -> Codes:
    """Activation codes of a kind of stimulus."""
    if fmt.family == "fp":
        return _fp_codes(rng, shape, kind, scale=0)
    if kind == "zeros":
        return _sprinkle(rng, np.zeros(shape, dtype=np.int64), fmt.act_bits, 0.2)
    if kind == "extreme":
        values = rng.choice([fmt.act_min, fmt.act_max, -1, 0, 1], size=shape)
        return fmt.encode_act(values).astype(np.int64)
    return rng.integers(0, 1 << fmt.act_bits, size=shape, dtype=np.int64)


def weight_codes(
    fmt: NumberFormat, rng: np.random.Generator, shape: tuple[int, ...], kind: str
) -> Codes:
    """Weight codes of a kind of stimulus (any bit pattern is a legal weight)."""
    if fmt.family == "fp":
        return _fp_codes(rng, shape, kind, scale=0)
    if kind == "zeros":
        return fmt.encode_weight(np.zeros(shape)).astype(np.int64)
    if kind == "extreme":
        values = fmt.weight_values()
        pick = rng.choice([values[0], values[-1], values[len(values) // 2]], size=shape)
        return fmt.encode_weight(pick).astype(np.int64)
    return rng.integers(0, 1 << fmt.weight_bits, size=shape, dtype=np.int64)


def psum_codes(
    fmt: NumberFormat, rng: np.random.Generator, shape: tuple[int, ...], kind: str
) -> Codes:
    """Psum-in codes; ``wrap`` puts them next to the accumulator's limits."""
    if fmt.family == "fp":
        return _fp_codes(rng, shape, kind, scale=8)
    if kind == "wrap":
        half = 1 << (fmt.acc_bits - 1)
        near = rng.integers(-64, 64, size=shape, dtype=np.int64)
        edge = np.where(rng.random(shape) < 0.5, half - 1 - near, -half + near)
        return edge & ((1 << fmt.acc_bits) - 1)
    return rng.integers(0, 1 << fmt.acc_bits, size=shape, dtype=np.int64)


def _sprinkle(rng: np.random.Generator, codes: Codes, bits: int, rate: float) -> Codes:
    mask = rng.random(codes.shape) < rate
    return np.where(mask, rng.integers(0, 1 << bits, size=codes.shape), codes).astype(np.int64)


def _fp_codes(rng: np.random.Generator, shape: tuple[int, ...], kind: str, scale: int) -> Codes:
    """fp32 patterns: mostly finite values of a kind, a few specials everywhere."""
    n = int(np.prod(shape))
    sign = rng.integers(0, 2, size=n, dtype=np.int64) << 31
    if kind == "ties":
        # few significant bits: exact sums and products land on rounding ties often
        mant = rng.integers(0, 8, size=n, dtype=np.int64) << int(rng.integers(16, 21))
        exp = 127 + rng.integers(-3, 4, size=n, dtype=np.int64) + scale
        mant = np.where(rng.random(n) < 0.5, mant | 1, mant) & 0x7FFFFF
    elif kind == "tiny":
        # products and sums around 2^-126, where FTZ decides
        mant = rng.integers(0, 1 << 23, size=n, dtype=np.int64)
        exp = rng.integers(58, 70, size=n, dtype=np.int64)
        exp = np.where(rng.random(n) < 0.2, rng.integers(1, 4, size=n), exp)
    elif kind == "huge":
        mant = rng.integers(0, 1 << 23, size=n, dtype=np.int64)
        exp = rng.integers(186, 200, size=n, dtype=np.int64)
    elif kind == "zeros":
        mant = np.zeros(n, dtype=np.int64)
        exp = np.zeros(n, dtype=np.int64)
        mant = np.where(rng.random(n) < 0.3, rng.integers(0, 1 << 23, size=n), mant)
    else:
        mant = rng.integers(0, 1 << 23, size=n, dtype=np.int64)
        exp = 127 + rng.integers(-12, 13, size=n, dtype=np.int64) + scale
    codes = sign | (exp.astype(np.int64) << 23) | mant
    rate = 0.25 if kind == "specials" else 0.003
    special = rng.random(n) < rate
    pool = np.array(
        [
            0x7F800000,
            0xFF800000,
            FP_QNAN,
            0x7F800001,
            0xFFC00123,
            0x00000001,
            0x807FFFFF,
            0x00000000,
            0x80000000,
            0x7F7FFFFF,
            0xFF7FFFFF,
            0x00800000,
            0x80800000,
        ],
        dtype=np.int64,
    )
    codes = np.where(special, rng.choice(pool, size=n), codes)
    return codes.reshape(shape).astype(np.int64)


def _stimulus(prims: list[Primitive]) -> str:
    """The testbench's input: one line per port transfer, in port order per port."""
    lines: list[str] = []
    for prim in prims:
        p, q, s = prim.shape
        acc = 1 if prim.psum_in is not None else 0
        lines.append(
            f"C {p - 1} {q - 1} {s - 1} {prim.stride - 1} {prim.width - 1} "
            f"{len(prim.ifmaps) - 1} {acc}"
        )
        # filter order: channel, tap, filter (filter fastest)
        lines.extend(f"F {v:x}" for v in np.transpose(prim.filt, (1, 2, 0)).ravel().tolist())
        for r, ifmap in enumerate(prim.ifmaps):
            # ifmap order: column, channel (channel fastest)
            lines.extend(f"X {v:x}" for v in ifmap.T.ravel().tolist())
            if prim.psum_in is not None:
                lines.extend(f"I {v:x}" for v in prim.psum_in[r].T.ravel().tolist())
    return "\n".join(lines) + "\n"


def _parse(text: str) -> tuple[list[int], list[int], int]:
    outputs: list[int] = []
    fires: list[int] = []
    end = -1
    for line in text.splitlines():
        tag, value = line.split()
        if tag == "O":
            outputs.append(int(value, 16))
        elif tag == "K":
            fires.append(int(value))
        elif tag == "E":
            end = int(value)
    if end < 0:
        raise RuntimeError("PE simulation did not finish (cycle budget exhausted)")
    return outputs, fires, end


def _bench() -> str:
    """The C++ testbench: four input queues, one output log, optional random stalls."""
    return r"""// qappac PE testbench (generated)
#include "Vtop.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

struct Cfg { uint64_t v[7]; };

static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd100() {
  rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
  return (unsigned)(rng_state % 100);
}

// requant mode: each input line "psum shift relu" gives one output line "act"
static int requant(const char* in_path, const char* out_path) {
  FILE* in = fopen(in_path, "r");
  FILE* out = fopen(out_path, "w");
  if (!in || !out) return 2;
  VerilatedContext* ctx = new VerilatedContext;
  Vtop* top = new Vtop{ctx};
  unsigned long long psum;
  unsigned shift, relu;
  while (fscanf(in, "%llx %u %u", &psum, &shift, &relu) == 3) {
    top->rq_psum = psum; top->rq_shift = shift; top->rq_relu = relu;
    top->eval();
    fprintf(out, "%llx\n", (unsigned long long)top->rq_act);
  }
  fclose(in);
  fclose(out);
  delete top;
  delete ctx;
  return 0;
}

// mac mode: each input line "act weight psum other sel" gives one output line "result"
static int mac(const char* in_path, const char* out_path) {
  FILE* in = fopen(in_path, "r");
  FILE* out = fopen(out_path, "w");
  if (!in || !out) return 2;
  VerilatedContext* ctx = new VerilatedContext;
  Vtop* top = new Vtop{ctx};
  unsigned long long a, w, p, o;
  unsigned sel;
  while (fscanf(in, "%llx %llx %llx %llx %u", &a, &w, &p, &o, &sel) == 5) {
    top->m_act = a; top->m_weight = w; top->m_psum = p; top->m_other = o;
    top->m_sel_other = sel;
    top->eval();
    fprintf(out, "%llx\n", (unsigned long long)top->m_result);
  }
  fclose(in);
  fclose(out);
  delete top;
  delete ctx;
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "requant") return requant(argv[2], argv[3]);
  if (argc == 4 && std::string(argv[1]) == "mac") return mac(argv[2], argv[3]);
  if (argc < 6) { fprintf(stderr, "usage: stim out stall seed budget\n"); return 2; }
  unsigned stall = (unsigned)atoi(argv[3]);
  rng_state ^= (uint64_t)strtoull(argv[4], nullptr, 10) * 0x9E3779B97F4A7C15ull;
  uint64_t budget = strtoull(argv[5], nullptr, 10);
  std::deque<Cfg> cfgs;
  std::deque<uint64_t> filt, ifm, pin;
  std::ifstream in(argv[1]);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ss(line.substr(2));
    if (line[0] == 'C') {
      Cfg c;
      for (int i = 0; i < 7; i++) ss >> c.v[i];
      cfgs.push_back(c);
    } else {
      uint64_t v; ss >> std::hex >> v;
      if (line[0] == 'F') filt.push_back(v);
      else if (line[0] == 'X') ifm.push_back(v);
      else pin.push_back(v);
    }
  }
  FILE* out = fopen(argv[2], "w");
  VerilatedContext* ctx = new VerilatedContext;
  Vtop* top = new Vtop{ctx};
  top->clk = 0; top->rst_n = 0;
  top->cfg_valid = 0; top->filter_valid = 0; top->ifmap_valid = 0;
  top->psum_in_valid = 0; top->psum_out_ready = 0;
  for (int i = 0; i < 4; i++) { top->clk = 1; top->eval(); top->clk = 0; top->eval(); }
  top->rst_n = 1; top->eval();
  bool offer[4] = {false, false, false, false};
  bool want_out = false;
  uint64_t cycle = 0;
  for (; cycle < budget; cycle++) {
    bool busy = !cfgs.empty() || !filt.empty() || !ifm.empty() || !pin.empty();
    if (!offer[0] && !cfgs.empty() && rnd100() >= stall) offer[0] = true;
    if (!offer[1] && !filt.empty() && rnd100() >= stall) offer[1] = true;
    if (!offer[2] && !ifm.empty() && rnd100() >= stall) offer[2] = true;
    if (!offer[3] && !pin.empty() && rnd100() >= stall) offer[3] = true;
    want_out = rnd100() >= stall;
    top->cfg_valid = offer[0];
    if (offer[0]) {
      const Cfg& c = cfgs.front();
      top->cfg_p_m1 = c.v[0]; top->cfg_q_m1 = c.v[1]; top->cfg_s_m1 = c.v[2];
      top->cfg_stride_m1 = c.v[3]; top->cfg_width_m1 = c.v[4]; top->cfg_rows_m1 = c.v[5];
      top->cfg_acc = c.v[6];
    }
    top->filter_valid = offer[1];
    if (offer[1]) top->filter_data = filt.front();
    top->ifmap_valid = offer[2];
    if (offer[2]) top->ifmap_data = ifm.front();
    top->psum_in_valid = offer[3];
    if (offer[3]) top->psum_in_data = pin.front();
    top->psum_out_ready = want_out;
    top->eval();
    if (!busy && top->cfg_ready) break;
    bool f0 = offer[0] && top->cfg_ready;
    bool f1 = offer[1] && top->filter_ready;
    bool f2 = offer[2] && top->ifmap_ready;
    bool f3 = offer[3] && top->psum_in_ready;
    if (top->psum_out_valid && want_out)
      fprintf(out, "O %llx\n", (unsigned long long)top->psum_out_data);
    if (f0) fprintf(out, "K %llu\n", (unsigned long long)cycle);
    top->clk = 1; top->eval();
    if (f0) { cfgs.pop_front(); offer[0] = false; }
    if (f1) { filt.pop_front(); offer[1] = false; }
    if (f2) { ifm.pop_front(); offer[2] = false; }
    if (f3) { pin.pop_front(); offer[3] = false; }
    top->clk = 0; top->eval();
  }
  if (cycle < budget) fprintf(out, "E %llu\n", (unsigned long long)cycle);
  fclose(out);
  top->final();
  delete top;
  delete ctx;
  return 0;
}
"""
