"""Fidelity: the search lands on the Eyeriss chip's published AlexNet mappings.

Published (Chen et al., JSSC 2017): CONV1's 11 x 55 PE set is strip-mined into 11 x 7 sets
and two of them are placed side by side (154 active PEs); CONV3..5 use 13-wide sets, four per
array (156 active PEs); CONV2 uses 135 active PEs. See docs/validation.md.
"""

from __future__ import annotations

import pytest
from conftest import SPECS

from qappac.build import compile_file
from qappac.dataflow import schedule


@pytest.fixture(scope="module")
def alexnet() -> dict[str, object]:
    # The bundled spec of the chip (specs/eyeriss.qa): one home for its parameters and for
    # the network it ran.
    program = compile_file(SPECS / "eyeriss.qa")
    design = next(d for d in program.designs if d.name == "eyeriss_alexnet")
    assert design.batch == 4
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
