"""SystemVerilog of the whole row-stationary accelerator (docs/accelerator.md).

`emit_accelerator` renders, for one accelerator: its lockstep array PE, the global buffer, the
requantizer, the PE type's MAC and the top (array, NoC, controller, DRAM port, counters).
`pe_config` computes the per-PE identity registers of a mapping, `layer_registers` the global
ones: together they are everything a host writes before START.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qappac.dataflow.geometry import ceil_div, folds_of
from qappac.dataflow.model import Mapping, dram_port
from qappac.ir import Accelerator, PEType
from qappac.numerics import format_of
from qappac.rtl_pe import (
    REGFILE,
    _environment,
    _render_mac,
    backends_dir,
    clog2,
    emit_requant,
    legalize,
    mac_name,
    requant_name,
    zext,
)
from qappac.shapes import LayerShape

REGISTERS: tuple[str, ...] = (
    "START", "N", "G", "CG", "MG", "H", "W", "E", "F", "R", "S", "U", "PAD", "SHIFT", "RELU",
    "ESET", "NBLK", "P", "Q", "RSETS", "TSETS", "KTILES", "HEIGHT", "FOLDS", "STRIPS", "BIMG",
    "FTILES", "CTILES", "GBLOCKS", "WU", "UMOD", "LANESI", "LANESW",
)  # fmt: skip
"""Global registers, at addresses 0, 1, ... (16 bits used of each 32-bit write); START last."""

REGISTER_SIGNALS: tuple[tuple[str, str], ...] = (
    ("G", "groups"), ("N", "n_img"), ("CG", "cg"), ("MG", "mg"), ("H", "hh"), ("W", "ww"),
    ("E", "ee"), ("F", "ff"), ("R", "rr"), ("S", "ss"), ("U", "uu"), ("PAD", "pad"),
    ("ESET", "e_set"), ("NBLK", "n_blk"), ("P", "p_f"), ("Q", "q_c"), ("RSETS", "r_sets"),
    ("TSETS", "t_sets"), ("KTILES", "k_tiles"), ("HEIGHT", "height"), ("FOLDS", "folds"),
    ("STRIPS", "strips"), ("BIMG", "blocks_img"), ("FTILES", "ftiles"), ("CTILES", "ctiles"),
    ("GBLOCKS", "gblocks"), ("WU", "wu"), ("UMOD", "umod"), ("LANESI", "lanes_i"),
    ("LANESW", "lanes_w"),
)  # fmt: skip
"""The controller's name for each layer register (SHIFT and RELU go to the requantizers)."""

PE_CONFIG_BASE = 1024
"""Per-PE identity registers: 4 words per PE at PE_CONFIG_BASE + 4*pe (docs/accelerator.md)."""

COUNTERS: tuple[tuple[str, str], ...] = (
    ("cycles", "32'd1"),
    ("macs", "n_mac"),
    ("dram_ifmap_reads", "(state == S_LDI && dram_ready) ? cnt : 32'd0"),
    ("dram_filter_reads", "(state == S_LDF && dram_ready) ? cnt : 32'd0"),
    ("dram_ofmap_writes", "(state == S_WR && dram_ready) ? cnt : 32'd0"),
    ("dram_ifmap_beats", "{31'd0, state == S_LDI && dram_ready}"),
    ("dram_filter_beats", "{31'd0, state == S_LDF && dram_ready}"),
    ("dram_ofmap_beats", "{31'd0, state == S_WR && dram_ready}"),
    ("glb_ifmap_reads", "n_glb_i"),
    ("glb_ifmap_writes", "(state == S_LDI && dram_ready) ? cnt : 32'd0"),
    ("glb_filter_reads", "n_glb_f"),
    ("glb_filter_writes", "(state == S_LDF && dram_ready) ? cnt : 32'd0"),
    ("glb_psum_reads", "n_pr + ((state == S_WR && dram_ready) ? cnt : 32'd0)"),
    ("glb_psum_writes", "n_pw"),
    ("noc_ifmap", "n_noc_i"),
    ("noc_filter", "n_noc_f"),
    ("noc_psum", "n_psum"),
    ("spad_ifmap_reads", "n_mac"),
    ("spad_ifmap_writes", "n_noc_i"),
    ("spad_filter_reads", "n_mac"),
    ("spad_filter_writes", "n_noc_f"),
    ("spad_psum_reads", "n_pread"),
    ("spad_psum_writes", "n_mac"),
)
"""The RTL's counters in `cnt_sel` order: name and the per-cycle increment."""

COUNTER_NAMES: tuple[str, ...] = tuple(name for name, _ in COUNTERS)


@dataclass(frozen=True)
class Port:
    """The DRAM port of an accelerator: words per beat for ifmap/ofmap and filter words."""

    lanes_ifmap: int
    lanes_filter: int


def port_of(accel: Accelerator) -> Port:
    """The DRAM port of an accelerator at its clock: the model's beat shapes."""
    dram = dram_port(accel)
    return Port(dram.ifmap_words, dram.filter_words)


def top_name(accel: Accelerator) -> str:
    return "qappac_accel_" + legalize(accel.pe.label)


def array_pe_name(pe: PEType) -> str:
    """The array PE's module name: ``qappac_ape_<type>``."""
    return "qappac_ape_" + legalize(pe.label)


def probe_accelerator(
    pe: PEType,
    spad_ifmap: int,
    spad_filter: int,
    spad_psum: int,
    clock_mhz: float = 200.0,
    *,
    rows: int = 2,
    cols: int = 2,
) -> Accelerator:
    """A small accelerator (2 x 2 unless told) with the given scratchpads, an 8 KiB global
    buffer and 4 GB/s of DRAM: the array PE's context when it is characterized on its own
    (`emit_array_pe`), and the accelerator whose shell `qappac.characterize` characterizes."""
    return Accelerator(
        name="probe",
        pe=pe,
        rows=rows,
        cols=cols,
        spad_ifmap=spad_ifmap,
        spad_filter=spad_filter,
        spad_psum=spad_psum,
        glb_bytes=8192,
        dram_gb_per_s=4.0,
        clock_mhz=clock_mhz,
    )


def emit_array_pe(pe: PEType, spad_ifmap: int, spad_filter: int, spad_psum: int) -> dict[str, str]:
    """The array PE's files alone (register file, MAC, the PE): what characterization
    synthesizes. The same text as in `probe_accelerator`'s RTL."""
    accel = probe_accelerator(pe, spad_ifmap, spad_filter, spad_psum)
    name = array_pe_name(pe)
    files = emit_accelerator(accel, port_of(accel))
    return {n: t for n, t in files.items() if n == REGFILE or n.startswith(name)}


def emit_accelerator(
    accel: Accelerator, port: Port, *, glb_blackbox: bool = False
) -> dict[str, str]:
    """The accelerator's SystemVerilog files in compilation order: file name -> text.

    `glb_blackbox` declares the global buffer's ports only (`(* blackbox *)`), for synthesis
    runs that leave it to SRAM macros.
    """
    fmt = format_of(accel.pe)
    ab, wb, cb = fmt.ifmap_bits, fmt.filter_bits, fmt.psum_bits
    label = legalize(accel.pe.label)
    npe = accel.rows * accel.cols
    glb_bits = accel.glb_bytes * 8
    depths = {"gdi": glb_bits // ab, "gdf": glb_bits // wb, "gdp": glb_bits // cb}
    li, lw = port.lanes_ifmap, port.lanes_filter
    idw = min(16, clog2(npe + 1))  # PE identity fields: a PE index, row, column or set
    dw = max(li * ab, lw * wb)
    header = [
        f"Generated by qappac: {accel.rows} x {accel.cols} {accel.pe.label} row-stationary "
        f"accelerator, GLB {accel.glb_bytes} B,",
        f"scratchpads ifmap {accel.spad_ifmap}, filter {accel.spad_filter}, psum "
        f"{accel.spad_psum} words; DRAM port {li} / {lw} words per beat. Do not edit.",
    ]
    names = {
        "name": top_name(accel),
        "pe_name": array_pe_name(accel.pe),
        "mac_name": mac_name(array_pe_name(accel.pe)),
        "glb_name": f"qappac_glb_{label}",
        "requant_name": requant_name(accel.pe),
    }
    common: dict[str, Any] = {
        "header": header,
        "ab": ab,
        "wb": wb,
        "cb": cb,
        "npe": npe,
        "li": li,
        "lw": lw,
        "awi": clog2(depths["gdi"]),
        "awf": clog2(depths["gdf"]),
        "awp": clog2(depths["gdp"]),
        "xaw": clog2(accel.spad_ifmap),
        "waw": clog2(accel.spad_filter),
        "paw": clog2(accel.spad_psum),
        "glb_bits": glb_bits,
        **depths,
        **names,
    }
    env = _environment()
    files = {REGFILE: (backends_dir() / "verilog" / REGFILE).read_text()}
    waiver = "/* verilator lint_off UNOPTFLAT */  // the set-to-set chain, see the top\n"
    for file, text in _render_mac(env, fmt, names["mac_name"], header).items():
        files[file] = waiver + text
    files[f"{names['pe_name']}.sv"] = env.get_template("accel_pe.sv.j2").render(
        name=names["pe_name"],
        mac=names["mac_name"],
        dx=accel.spad_ifmap,
        dw=accel.spad_filter,
        dp=accel.spad_psum,
        **{k: v for k, v in common.items() if k not in {"name", "dw"}},
    )
    files[f"{names['glb_name']}.sv"] = env.get_template("accel_glb.sv.j2").render(
        **{**common, "name": names["glb_name"], "blackbox": glb_blackbox}
    )
    files.update(emit_requant(accel.pe))
    files[f"{names['name']}.sv"] = env.get_template("accel_top.sv.j2").render(
        **common,
        rows=accel.rows,
        cols=accel.cols,
        dw=dw,
        cw=clog2(max(li, lw) + 1),
        shw=clog2(fmt.acc_bits),
        registers=REGISTERS,
        register_signals=REGISTER_SIGNALS,
        idw=idw,
        w16=lambda name: zext(name, idw, 16),
        w32=lambda name: zext(name, idw, 32),
        regw=clog2(len(REGISTERS)),
        pe_base=PE_CONFIG_BASE,
        pcw=clog2(npe * 4),
        counters=[{"name": n, "expr": e} for n, e in COUNTERS],
    )
    return files


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class PEConfig:
    """One PE's identity for a mapping (all zero for an idle PE)."""

    i: int = 0
    j: int = 0
    ri: int = 0
    ti: int = 0
    src_i: int = 0
    src_f: int = 0
    xsrc: int = 0
    d: int = 0
    active: bool = False

    def words(self) -> tuple[int, int, int, int]:
        return (
            self.i | self.j << 16,
            self.ri | self.ti << 16,
            self.src_i | self.src_f << 16,
            self.xsrc | self.d << 16 | int(self.active) << 31,
        )


def pe_config(layer: LayerShape, accel: Accelerator, mapping: Mapping) -> list[PEConfig]:
    """Per-PE identity registers: placement of docs/dataflow.md section 2.

    The ifmap bus of PE (i, j) of set (ri, ti) is driven by the first PE of its diagonal
    (d = j*U + i) in set (ri, 0); the filter bus by PE (i, 0) of its own set; the set-to-set
    psum chain of a top PE comes from the top PE e slots back.
    """
    height, e, r, t, U = mapping.set_rows, mapping.set_cols, mapping.r, mapping.t, layer.U
    cols = accel.cols
    bands = accel.rows // height

    def pe_at(set_index: int, i: int, j: int) -> int:
        slot = set_index * e + j
        return (slot // cols * height + i) * cols + slot % cols

    configs = [PEConfig()] * (accel.rows * accel.cols)
    for set_index in range(r * t):
        ti, ri = divmod(set_index, r)
        for j in range(e):
            for i in range(height):
                d = j * U + i
                j0 = max(0, ceil_div(d - (height - 1), U))
                k = pe_at(set_index, i, j)
                assert pe_at(set_index, i, j) // cols < bands * height
                configs[k] = PEConfig(
                    i=i,
                    j=j,
                    ri=ri,
                    ti=ti,
                    src_i=pe_at(ri, d - j0 * U, j0),
                    src_f=pe_at(set_index, i, 0),
                    xsrc=pe_at(set_index - 1, 0, j) if ri > 0 else 0,
                    d=d,
                    active=True,
                )
    return configs


def layer_registers(
    layer: LayerShape,
    accel: Accelerator,
    mapping: Mapping,
    batch: int,
    port: Port,
    shift: int,
    relu: bool,
) -> dict[str, int]:
    """The global registers of a conv/FC layer under a mapping (START excluded)."""
    Cg, Mg = layer.C // layer.G, layer.M // layer.G
    folds, height = folds_of(layer.R, accel.rows)
    p, q, r, t, e, n = mapping.p, mapping.q, mapping.r, mapping.t, mapping.set_cols, mapping.n
    tiles = ceil_div(Mg, p * t)
    k = mapping.m // (p * t)
    wu = max(0, min(layer.W, (layer.F - 1) * layer.U + layer.S - layer.pad))
    values = {
        "N": batch, "G": layer.G, "CG": Cg, "MG": Mg, "H": layer.H, "W": layer.W,
        "E": layer.E, "F": layer.F, "R": layer.R, "S": layer.S, "U": layer.U, "PAD": layer.pad,
        "SHIFT": shift, "RELU": int(relu), "ESET": e, "NBLK": n, "P": p, "Q": q, "RSETS": r,
        "TSETS": t, "KTILES": k, "HEIGHT": height, "FOLDS": folds,
        "STRIPS": ceil_div(layer.E, e), "BIMG": ceil_div(batch, n), "FTILES": tiles,
        "CTILES": ceil_div(Cg, q * r), "GBLOCKS": ceil_div(tiles, k), "WU": wu,
        "UMOD": layer.U % layer.S, "LANESI": port.lanes_ifmap, "LANESW": port.lanes_filter,
    }  # fmt: skip
    assert set(values) == set(REGISTERS) - {"START"}
    return values
