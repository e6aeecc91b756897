"""`schedule`: one `LayerSchedule` per layer of a design's network (the `build` entry point)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from qappac.dataflow.energy import EnergyTable, default_energy_table
from qappac.dataflow.model import (
    Accesses,
    Cost,
    Energy,
    Mapping,
    cost_mac_layer,
    cost_vector_layer,
)
from qappac.dataflow.search import accelerator_arrays, candidate_table, designs_of, search
from qappac.ir import Accelerator, Design, Objective
from qappac.shapes import LayerShape, layer_shapes


class MappingError(Exception):
    """No row-stationary mapping of a layer fits the accelerator."""


@dataclass(frozen=True)
class LayerSchedule:
    """The schedule of one layer: its mapping (None for pool/add), cycles, accesses, energy.

    `utilization` is active PEs / PEs; `mac_utilization` is MACs / (PEs x cycles).
    """

    layer: str
    kind: str
    mapping: Mapping | None
    pes: int
    active_pes: int
    compute_cycles: int
    stall_cycles: int
    accesses: Accesses
    energy: Energy

    @property
    def cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def macs(self) -> int:
        return self.accesses.macs

    @property
    def utilization(self) -> float:
        return self.active_pes / self.pes

    @property
    def mac_utilization(self) -> float:
        return self.macs / (self.pes * self.cycles) if self.cycles else 0.0


@lru_cache(maxsize=4096)
def schedule_layer(
    layer: LayerShape, accel: Accelerator, batch: int, objective: Objective, table: EnergyTable
) -> LayerSchedule:
    """Search and cost one layer (memoized per layer shape, accelerator and run options).

    The search is `search.search` on this one design; the chosen mapping is then costed by
    the scalar reference model (`model.cost_mac_layer`).
    """
    cost: Cost | None
    if layer.is_mac:
        c = candidate_table(layer, batch, accel.rows, accel.cols)
        choice = search(layer, c, designs_of(accelerator_arrays([accel]), table), objective)
        i = int(choice[0])
        if i < 0:
            raise MappingError(
                f"no row-stationary mapping of '{layer.name}' fits accelerator '{accel.name}'"
            )
        e, n, p, q, r, t = (int(x[i]) for x in (c.e, c.n, c.p, c.q, c.r, c.t))
        cost = cost_mac_layer(layer, accel, batch, table, e, n, p, q, r, t)
        if cost is None:  # the search and the reference model disagree: a bug
            raise AssertionError(f"mapping of '{layer.name}' rejected by the reference model")
    else:
        cost = cost_vector_layer(layer, accel, batch, table)
    return LayerSchedule(
        layer=layer.name,
        kind=layer.kind,
        mapping=cost.mapping,
        pes=accel.pes,
        active_pes=cost.active_pes,
        compute_cycles=cost.compute_cycles,
        stall_cycles=cost.stall_cycles,
        accesses=cost.accesses,
        energy=cost.energy,
    )


def schedule(design: Design, table: EnergyTable | None = None) -> list[LayerSchedule]:
    """Map every layer of the design's network (conv, FC, pool, add) and cost it.

    >>> from qappac.ir import *
    >>> pe = PEType(family="int", act_bits=16, weight_bits=16)
    >>> acc = Accelerator(name="a", pe=pe, rows=3, cols=4, spad_ifmap=12, spad_filter=224,
    ...                   spad_psum=24, glb_bytes=65536, dram_gb_per_s=1.0, clock_mhz=200)
    >>> net = Network(name="n", input=Shape(c=4, h=8, w=8), layers=(Conv(name="c",
    ...     inputs=("input",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),))
    >>> [s.macs for s in schedule(Design(name="d", accelerator=acc, network=net))]
    [18432]
    """
    table = table or default_energy_table()
    return [
        schedule_layer(layer, design.accelerator, design.batch, design.objective, table)
        for layer in layer_shapes(design.network)
    ]
