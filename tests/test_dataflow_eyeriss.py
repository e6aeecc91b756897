"""Fidelity: the search lands on the Eyeriss chip's published AlexNet mappings.

Published (Chen et al., JSSC 2017): CONV1's 11 x 55 PE set is strip-mined into 11 x 7 sets
and two of them are placed side by side (154 active PEs); CONV3..5 use 13-wide sets, four per
array (156 active PEs); CONV2 uses 135 active PEs. See docs/validation.md.
"""

from __future__ import annotations

import pytest

from qappac.dataflow import schedule
from qappac.ir import Accelerator, Conv, Design, Network, PEType, Pool, Shape


def alexnet_convs() -> Network:
    def conv(name: str, src: str, m: int, k: int, **kw: int) -> Conv:
        return Conv(
            name=name, inputs=(src,), out_channels=m, kernel_h=k, kernel_w=k, relu=True, **kw
        )

    return Network(
        name="alexnet",
        input=Shape(c=3, h=227, w=227),
        layers=(
            conv("conv1", "input", 96, 11, stride=4),
            Pool(name="pool1", inputs=("conv1",), op="max", kernel=3, stride=2),
            conv("conv2", "pool1", 256, 5, pad=2, groups=2),
            Pool(name="pool2", inputs=("conv2",), op="max", kernel=3, stride=2),
            conv("conv3", "pool2", 384, 3, pad=1),
            conv("conv4", "conv3", 384, 3, pad=1, groups=2),
            conv("conv5", "conv4", 256, 3, pad=1, groups=2),
        ),
    )


EYERISS = Accelerator(
    name="eyeriss",
    pe=PEType(family="int", act_bits=16, weight_bits=16),
    rows=12,
    cols=14,
    spad_ifmap=12,
    spad_filter=224,
    spad_psum=24,
    glb_bytes=108 * 1024,
    dram_gb_per_s=1.0,
    clock_mhz=200.0,
)


@pytest.fixture(scope="module")
def alexnet() -> dict[str, object]:
    design = Design(name="eyeriss", accelerator=EYERISS, network=alexnet_convs(), batch=4)
    return {s.layer: s for s in schedule(design)}


def test_conv1_is_two_strip_mined_11x7_sets(alexnet: dict) -> None:  # type: ignore[type-arg]
    s = alexnet["conv1"]
    m = s.mapping
    assert (m.set_rows, m.set_cols, m.strips) == (11, 7, 8)
    assert m.r * m.t == 2
    assert s.active_pes == 154


def test_conv3_to_5_use_13_wide_sets_on_156_pes(alexnet: dict) -> None:  # type: ignore[type-arg]
    for name in ("conv3", "conv4", "conv5"):
        s = alexnet[name]
        assert (s.mapping.set_rows, s.mapping.set_cols) == (3, 13), name
        assert s.active_pes == 156, name


def test_alexnet_shapes_match_the_paper(alexnet: dict) -> None:  # type: ignore[type-arg]
    # MACs per image (JSSC 2017 Table V lists 105M, 224M, 150M, 112M, 75M for batch 1).
    macs = {
        name: alexnet[name].macs // 4 for name in ("conv1", "conv2", "conv3", "conv4", "conv5")
    }
    assert macs == {
        "conv1": 105415200,
        "conv2": 223948800,
        "conv3": 149520384,
        "conv4": 112140288,
        "conv5": 74760192,
    }
