"""SystemVerilog of one row-stationary processing element.

`emit_pe` renders the PE of a PE type: the control of the 1-D convolution primitive, three
scratchpads (`qappac_regfile`) and the MAC of the number format. Every width comes from
`qappac.numerics` or from the scratchpad sizes; the templates in ``backends/verilog`` only
loop and substitute. Ports and timing: docs/pe.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from qappac.ir import PEType
from qappac.numerics import (
    FP_QNAN,
    LIGHT_EXP_BITS,
    LIGHT_TERM_BITS,
    LIGHT_ZERO_CODE,
    NumberFormat,
    format_of,
)
from qappac.resources import data_dir

DEFAULT_MAX_ROW_LENGTH = 1024
"""Longest ifmap row (and stride) a PE accepts unless the caller asks for more."""

DEFAULT_MAX_ROWS = 1024
"""Most ifmap rows one configuration processes with its resident filter."""

REGFILE = "qappac_regfile.sv"

STATES = ("IDLE", "LOAD_FILTER", "LOAD_IFMAP", "COMPUTE", "OUTPUT")
"""The PE controller's states, encoded in this order."""

_KEYWORDS = frozenset(
    """always always_comb always_ff always_latch and assign automatic begin bit buf byte case
    casex casez cmos config const default defparam do edge else end endcase endfunction
    endgenerate endmodule endtask enum event for force forever fork function generate genvar
    if initial inout input int integer interface local localparam logic longint module
    nand negedge nmos nor not or output package parameter posedge primitive priority pull0
    pull1 real reg repeat return shortint signed specify static string struct supply0 supply1
    table task time tri type typedef union unique unsigned var void wait wand while wire wor
    xnor xor""".split()
)


def backends_dir() -> Path:
    """The ``backends`` folder of this installation (see `qappac.resources`)."""
    return data_dir("backends")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(backends_dir() / "verilog")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["sext"] = sext
    env.globals["zext"] = zext
    return env


def legalize(name: str) -> str:
    """A SystemVerilog identifier for a name: runs of other characters become ``_``.

    >>> legalize("int(8,6)"), legalize("lightpe1+acc32"), legalize("module")
    ('int_8_6', 'lightpe1_acc32', 'module_')
    """
    ident = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "x"
    if not (ident[0].isalpha() or ident[0] == "_"):
        ident = "n" + ident
    return ident + "_" if ident in _KEYWORDS else ident


def sext(expr: str, width: int, to: int) -> str:
    """``expr`` (``width`` bits) sign-extended to ``to`` bits, as a concatenation."""
    if to == width:
        return expr
    return f"{{{{{to - width}{{{expr}[{width - 1}]}}}}, {expr}}}"


def zext(expr: str, width: int, to: int) -> str:
    """``expr`` (``width`` bits) zero-extended to ``to`` bits."""
    if to == width:
        return expr
    return f"{{{to - width}'d0, {expr}}}"


def clog2(n: int) -> int:
    """Bits to count 0..n-1 (at least 1): the address width of an n-word scratchpad."""
    return max(1, (n - 1).bit_length())


def primitive_cycles(p: int, q: int, s: int, stride: int, width: int, rows: int) -> int:
    """Clock cycles of one primitive with inputs always valid and outputs always ready.

    From the cfg transfer to the cycle the PE is idle again (docs/pe.md): 1 config cycle,
    P*Q*S filter words, then per row W*Q ifmap words and, per output column, Q*S MAC cycles
    for each of the P filters plus one output cycle each.

    >>> primitive_cycles(p=2, q=1, s=2, stride=1, width=3, rows=1)  # 1 + 4 + (3 + 2*2*3)
    20
    """
    cols = (width - s) // stride + 1
    return 1 + p * q * s + rows * (width * q + cols * p * (q * s + 1))


def top_name(pe: PEType) -> str:
    """The PE module's name: ``qappac_pe_<type>``."""
    return "qappac_pe_" + legalize(pe.label)


def mac_name(pe_top: str) -> str:
    """The module name of the MAC instantiated by the PE module `pe_top`: ``<pe_top>_mac``."""
    return f"{pe_top}_mac"


@dataclass(frozen=True)
class PEGeometry:
    """Scratchpad depths and the control widths derived from them."""

    spad_ifmap: int
    spad_filter: int
    spad_psum: int
    max_row_length: int = DEFAULT_MAX_ROW_LENGTH
    max_rows: int = DEFAULT_MAX_ROWS

    @property
    def ifmap_addr_bits(self) -> int:
        return clog2(self.spad_ifmap)

    @property
    def filter_addr_bits(self) -> int:
        return clog2(self.spad_filter)

    @property
    def psum_addr_bits(self) -> int:
        return clog2(self.spad_psum)

    @property
    def row_bits(self) -> int:
        # column counters also hold S - 1, so they are at least as wide as ifmap addresses
        return max(clog2(self.max_row_length), self.ifmap_addr_bits)

    @property
    def rows_bits(self) -> int:
        return clog2(self.max_rows)


def emit_pe(
    pe: PEType,
    spad_ifmap: int,
    spad_filter: int,
    spad_psum: int,
    *,
    max_row_length: int = DEFAULT_MAX_ROW_LENGTH,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> dict[str, str]:
    """The PE's SystemVerilog files: relative file name -> text (deterministic).

    Scratchpad sizes are in words of the tensor's own width. The top module is
    `top_name(pe)`; files are listed in compilation order (the dict's order).

    >>> sorted(emit_pe(PEType(family="int", act_bits=8, weight_bits=8), 12, 224, 24))
    ['qappac_pe_int8.sv', 'qappac_pe_int8_mac.sv', 'qappac_regfile.sv']
    """
    if min(spad_ifmap, spad_filter, spad_psum, max_row_length, max_rows) < 1:
        raise ValueError("scratchpad sizes and limits must be at least 1")
    fmt = format_of(pe)
    geo = PEGeometry(spad_ifmap, spad_filter, spad_psum, max_row_length, max_rows)
    top = top_name(pe)
    header = [
        f"Generated by qappac: {pe.label} processing element.",
        f"Scratchpads: ifmap {spad_ifmap} x {fmt.ifmap_bits} b, filter {spad_filter} x "
        f"{fmt.filter_bits} b, psum {spad_psum} x {fmt.psum_bits} b. Do not edit.",
    ]
    env = _environment()
    files = {REGFILE: (backends_dir() / "verilog" / REGFILE).read_text()}
    files.update(_render_mac(env, fmt, mac_name(top), header))
    files[f"{top}.sv"] = env.get_template("pe.sv.j2").render(
        header=header, top=top, mac=mac_name(top), **_pe_params(fmt, geo)
    )
    return files


def requant_name(pe: PEType) -> str:
    """The requantizer's module name: ``qappac_requant_<type>``."""
    return "qappac_requant_" + legalize(pe.label)


def emit_requant(pe: PEType) -> dict[str, str]:
    """The combinational requantizer of finished psums (docs/numerics.md): one file.

    Ports: ``psum`` (accumulator bits), ``shift`` (clog2(acc_bits) bits, 0..acc_bits-1),
    ``relu``, ``act`` (activation bits). It is not part of the PE; the array instantiates it
    where psums leave for the global buffer.
    """
    fmt = format_of(pe)
    name = requant_name(pe)
    text = (
        _environment()
        .get_template("pe_requant.sv.j2")
        .render(
            header=[f"Generated by qappac: {pe.label} requantizer. Do not edit."],
            name=name,
            fp=fmt.family == "fp",
            a=fmt.act_bits,
            c=fmt.acc_bits,
            shw=clog2(fmt.acc_bits),
            act_max=fmt.act_max,
        )
    )
    return {f"{name}.sv": text}


SIM_TOP = "qappac_sim_top"


def emit_sim_top(pe: PEType, spad_ifmap: int, spad_filter: int, spad_psum: int) -> dict[str, str]:
    """The PE, its requantizer and a wrapper `SIM_TOP` holding both (for simulation only).

    The wrapper has every PE port plus ``rq_psum``, ``rq_shift``, ``rq_relu``, ``rq_act``.
    """
    files = emit_pe(pe, spad_ifmap, spad_filter, spad_psum)
    files.update(emit_requant(pe))
    fmt = format_of(pe)
    geo = PEGeometry(spad_ifmap, spad_filter, spad_psum)
    files[f"{SIM_TOP}.sv"] = (
        _environment()
        .get_template("pe_sim_top.sv.j2")
        .render(
            name=SIM_TOP,
            top=top_name(pe),
            requant=requant_name(pe),
            shw=clog2(fmt.acc_bits),
            **_pe_params(fmt, geo),
        )
    )
    return files


def _pe_params(fmt: NumberFormat, geo: PEGeometry) -> dict[str, Any]:
    return {
        "ab": fmt.ifmap_bits,
        "wb": fmt.filter_bits,
        "cb": fmt.psum_bits,
        "dx": geo.spad_ifmap,
        "dw": geo.spad_filter,
        "dp": geo.spad_psum,
        "xaw": geo.ifmap_addr_bits,
        "waw": geo.filter_addr_bits,
        "paw": geo.psum_addr_bits,
        "rw": geo.row_bits,
        "nw": geo.rows_bits,
        "states": STATES,
        "stw": clog2(len(STATES)),
    }


def _render_mac(
    env: jinja2.Environment, fmt: NumberFormat, name: str, header: list[str]
) -> dict[str, str]:
    """The MAC's files: ``<name>.sv`` (and for fp32 its multiplier and adder first)."""
    top = "".join(f"// {line}\n" for line in header)
    if fmt.family == "fp":
        fp = _fp_params(fmt)
        return {
            f"{name}_fmul.sv": top + env.get_template("pe_fp_mul.sv.j2").render(name=name, **fp),
            f"{name}_fadd.sv": top + env.get_template("pe_fp_add.sv.j2").render(name=name, **fp),
            f"{name}.sv": top + env.get_template("pe_mac_fp.sv.j2").render(name=name, **fp),
        }
    params: dict[str, Any] = {
        "name": name,
        "a": fmt.act_bits,
        "w": fmt.weight_bits,
        "p": fmt.product_bits,
        "c": fmt.acc_bits,
    }
    if fmt.family == "int":
        return {f"{name}.sv": top + env.get_template("pe_mac_int.sv.j2").render(**params)}
    terms = [
        {"index": t, "lo": LIGHT_TERM_BITS * t, "hi": LIGHT_TERM_BITS * t + LIGHT_TERM_BITS - 1}
        for t in range(fmt.terms)
    ]
    text = env.get_template("pe_mac_light.sv.j2").render(
        terms=fmt.terms,
        term_list=terms,
        eb=LIGHT_EXP_BITS,
        frac=fmt.frac_bits,
        zero_code=LIGHT_ZERO_CODE,
        **params,
    )
    return {f"{name}.sv": top + text}


def _fp_params(fmt: NumberFormat) -> dict[str, Any]:
    e, m = fmt.exp_bits, fmt.man_bits
    sig = m + 1
    adder = sig + 3 + 1  # significand, guard/round/sticky, carry
    lzw = max(1, (adder - 1).bit_length())
    return {
        "n": 1 + e + m,
        "e": e,
        "m": m,
        "emax": (1 << e) - 1,
        "bias": (1 << (e - 1)) - 1,
        "prod_w": 2 * sig,
        # exponent sums: up to 2 * emax + 2 and never negative
        "ew": e + 2,
        "aw": adder,
        "lzw": lzw,
        "lz_chain": [(adder - 1 - k, k) for k in range(adder)],
        "qnan": f"{FP_QNAN:08X}",
    }
