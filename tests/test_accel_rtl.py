"""The whole accelerator in RTL, layer by layer (docs/accelerator.md).

Every case builds the generated accelerator with Verilator, runs one layer with random
quantized data through the DRAM port, and checks three things independently: the ofmap equals
the numpy reference bit for bit (`qappac.accel_host`), the simulated cycles equal the dataflow
model's, and every RTL access counter equals the model's count. The cases cover the layer
shapes and mapping situations of the issue; each asserts that its mapping really exercises
what it is named after. A representative subset runs by default; the full matrix (every PE
type on every case) runs with `pytest -m full`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from qappac.dataflow import default_energy_table
from qappac.dataflow.model import Mapping
from qappac.dataflow.schedule import schedule_layer
from qappac.ir import FC, Accelerator, Conv, Network, PEType, Shape
from qappac.shapes import LayerShape, layer_shapes
from qappac.tools.verilator import find_verilator

pytestmark = pytest.mark.skipif(find_verilator() is None, reason="needs Verilator")

PE_TYPES = {
    "fp32": PEType(family="fp", act_bits=32, weight_bits=32),
    "int16": PEType(family="int", act_bits=16, weight_bits=16),
    "int8": PEType(family="int", act_bits=8, weight_bits=8),
    "int(8,6)": PEType(family="int", act_bits=8, weight_bits=6),
    "lightpe1": PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    "lightpe2": PEType(family="light", act_bits=8, weight_bits=8, terms=2),
    "light(6,3)": PEType(family="light", act_bits=6, weight_bits=12, terms=3),
}


def accelerator(pe: PEType, shape: str) -> Accelerator:
    """Two small accelerators: 'wide' (3 x 4, 1 GB/s) and 'tall' (2 x 5: filters of 3 rows
    fold; a small GLB; DRAM so slow that a word takes several cycles)."""
    if shape == "wide":
        rows, cols, glb, dram = 3, 4, 4096, 1.0
    else:
        rows, cols, glb, dram = 2, 5, 1024, 0.05
    return Accelerator(
        name=shape,
        pe=pe,
        rows=rows,
        cols=cols,
        spad_ifmap=12,
        spad_filter=48,
        spad_psum=6,
        glb_bytes=glb,
        dram_gb_per_s=dram,
        clock_mhz=200.0,
    )


def conv(c: int, h: int, m: int, k: int, stride: int = 1, pad: int = 0, groups=1) -> Network:  # type: ignore[no-untyped-def]
    return Network(
        name="n",
        input=Shape(c=c, h=h, w=h + 1),
        layers=(
            Conv(
                name="layer",
                inputs=("input",),
                out_channels=m,
                kernel_h=k,
                kernel_w=k,
                stride=stride,
                pad=pad,
                groups=groups,
            ),
        ),
    )


def fc(c: int, h: int, out: int) -> Network:
    return Network(
        name="n",
        input=Shape(c=c, h=h, w=h),
        layers=(FC(name="layer", inputs=("input",), out_features=out),),
    )


@dataclass(frozen=True)
class Case:
    name: str
    network: Network
    shape: str  # which accelerator
    batch: int
    exercises: Callable[[LayerShape, Mapping], bool]


CASES = [
    Case("conv3x3_s1_p1", conv(5, 6, 7, 3, pad=1), "wide", 1, lambda s, m: s.U == 1),
    Case("conv3x3_s2", conv(3, 9, 4, 3, stride=2, pad=1), "wide", 1, lambda s, m: s.U == 2),
    Case("conv1x1", conv(9, 5, 6, 1), "wide", 2, lambda s, m: s.R == 1),
    Case("conv1x1_s2", conv(4, 7, 3, 1, stride=2), "wide", 1, lambda s, m: s.U > s.R),
    Case("grouped", conv(6, 5, 4, 3, pad=1, groups=2), "wide", 1, lambda s, m: s.G == 2),
    Case(
        "depthwise", conv(3, 5, 3, 3, pad=1, groups="depthwise"), "wide", 1, lambda s, m: s.G == 3
    ),
    Case("fc", fc(6, 2, 10), "wide", 3, lambda s, m: s.kind == "fc"),
    Case("strips", conv(2, 9, 3, 3, pad=1), "wide", 1, lambda s, m: m.strips > 1),
    Case("glb_passes", conv(4, 8, 12, 3, pad=1), "tall", 1, lambda s, m: m.glb_passes > 1),
    Case("folds_slow_dram", conv(3, 5, 2, 3), "tall", 2, lambda s, m: m.folds > 1),
]

DEFAULT = {
    # every PE type on the 3x3 convolution; int8 and lightpe1 on every case
    *((pe, "conv3x3_s1_p1") for pe in PE_TYPES),
    *(("int8", case.name) for case in CASES),
    *(("lightpe1", case.name) for case in CASES),
}


def _params():  # type: ignore[no-untyped-def]
    for pe in PE_TYPES:
        for case in CASES:
            marks = [pytest.mark.slow]
            if (pe, case.name) not in DEFAULT:
                marks.append(pytest.mark.full)
            yield pytest.param(pe, case, id=f"{pe}-{case.name}", marks=marks)


@pytest.mark.parametrize(("pe", "case"), list(_params()))
def test_layer_on_rtl(pe: str, case: Case) -> None:
    from qappac.sim_accel import describe, simulate_layer

    accel = accelerator(PE_TYPES[pe], case.shape)
    (layer,) = layer_shapes(case.network)
    sched = schedule_layer(layer, accel, case.batch, "energy", default_energy_table())
    assert sched.mapping is not None
    assert case.exercises(layer, sched.mapping), (
        f"{case.name} does not exercise it: {sched.mapping}"
    )
    result = simulate_layer(layer, accel, case.batch, sched.mapping, seed=7)
    assert result.ok, describe(result)
    assert result.model_cycles == sched.cycles
