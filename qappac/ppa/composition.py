"""Composition check: do the parts' area and power add up to the whole accelerator's?

qappac's PPA of a design is composed: PEs times the PE model, plus the NoC and control, plus
the global buffer. This module measures how far that composition is from the truth on real
synthesis. It maps onto the liberty's cells, with Yosys, the whole accelerator flattened
(global buffer left as a black box) and, separately, the parts it is made of: the array PE
(`qappac_ape_*`) and the shell (the accelerator with PEs and global buffer as black boxes:
controller, configuration registers, NoC buses, psum chains, requantizers, counters).

Power needs switching activity, and two estimates are compared:

- *gate level* (the reference): the netlists themselves are simulated in Verilator with the
  cell models of the liberty (`qappac.tools.yosys.liberty_models`), running the same layer
  as the RTL: the flattened whole on its own, and the parts stitched back together (the
  shell netlist instantiating the PE netlist). Every net gets its simulated activity. Both
  simulations are also checked bit for bit and cycle for cycle, so they prove that the
  synthesized netlists compute the layer.
- *RTL* (what characterization can afford for a part on its own): the RTL simulation's
  activity on the part's inputs and flip-flops (and on the RTL wires that survive
  synthesis), propagated by OpenSTA through the rest.

The composition error is the composed parts against the whole, both at gate level; the
estimate error is the RTL estimate against gate level, for each. `benchmarks/
composition_check.py` runs it over PE types and array shapes (docs/validation.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qappac.activity import Toggles, annotate, input_bits, read_vcd
from qappac.characterize import (
    FlowOptions,
    file_sha256,
    fixed_probe_mapping,
    job_key,
    mapped_apart,
    probe_layer_toggles,
    synthesize_netlist,
    tool_versions,
    write_atomic,
)
from qappac.dataflow.model import Mapping
from qappac.ir import Accelerator
from qappac.ppa.models import ModelSet, predict
from qappac.ppa.table import accelerator_features
from qappac.rtl_accel import array_pe_name, emit_accelerator, port_of, top_name
from qappac.rtl_pe import REGFILE
from qappac.shapes import LayerShape
from qappac.tools import sta
from qappac.tools.yosys import liberty_models


@dataclass(frozen=True)
class Part:
    """Area and power (at the accelerator's clock, measured activity) of one netlist."""

    name: str
    area_um2: float
    dynamic_mw: float
    leakage_mw: float
    flops: int
    flops_annotated: int

    @property
    def power_mw(self) -> float:
        return self.dynamic_mw + self.leakage_mw


@dataclass(frozen=True)
class Composition:
    """The whole accelerator against the sum of its parts (power at gate level), with the
    RTL-activity estimates beside them."""

    pe: str
    rows: int
    cols: int
    cycles: int
    whole: Part
    shell: Part
    pes: tuple[Part, ...]
    whole_rtl: Part
    shell_rtl: Part
    pes_rtl: tuple[Part, ...]

    @property
    def composed_rtl_power_mw(self) -> float:
        """The composed power with the parts' RTL-activity estimates."""
        return self.shell_rtl.power_mw + sum(p.power_mw for p in self.pes_rtl)

    @property
    def rtl_estimate_error(self) -> float:
        """The composed RTL estimate against the whole at gate level, minus one."""
        return self.composed_rtl_power_mw / self.whole.power_mw - 1.0

    @property
    def composed_area_um2(self) -> float:
        return self.shell.area_um2 + sum(p.area_um2 for p in self.pes)

    @property
    def composed_power_mw(self) -> float:
        return self.shell.power_mw + sum(p.power_mw for p in self.pes)

    @property
    def area_error(self) -> float:
        """Composed over whole, minus one."""
        return self.composed_area_um2 / self.whole.area_um2 - 1.0

    @property
    def power_error(self) -> float:
        return self.composed_power_mw / self.whole.power_mw - 1.0

    @property
    def pe_share(self) -> float:
        """The PEs' part of the composed area."""
        return sum(p.area_um2 for p in self.pes) / self.composed_area_um2


def modeled_core(models: ModelSet, accel: Accelerator) -> tuple[float, float]:
    """Area (um^2) and power (mW) of the accelerator without its global buffer, composed from
    fitted models at the accelerator's own clock, as `qappac.ppa.design` composes them: PEs x
    the PE models (area, ``energy_cycle_pj`` x clock, leakage) plus the shell models."""
    from qappac.ppa.design import SHELL_AREA, SHELL_ENERGY, SHELL_LEAKAGE, shell_prediction

    label, features, clock = accel.pe.label, accelerator_features(accel), accel.clock_mhz
    pes = accel.rows * accel.cols

    def pe(target: str) -> float:
        return predict(models.get(label, target), features)

    area = pes * pe("area_um2") + shell_prediction(models, accel, SHELL_AREA)
    power = (
        pes * (pe("energy_cycle_pj") * clock * 1e-3 + pe("leakage_mw"))
        + shell_prediction(models, accel, SHELL_ENERGY) * clock * 1e-3
        + shell_prediction(models, accel, SHELL_LEAKAGE)
    )
    return area, power


@dataclass(frozen=True)
class ModelCheck:
    """The fitted models composed (`modeled_core`) against the whole accelerator synthesized
    flat, its power with the RTL simulation's activity (no gate-level simulation: minutes
    instead of tens of minutes; docs/validation.md compares the two estimates)."""

    pe: str
    rows: int
    cols: int
    whole: Part
    model_area_um2: float
    model_power_mw: float

    @property
    def area_error(self) -> float:
        return self.model_area_um2 / self.whole.area_um2 - 1.0

    @property
    def power_error(self) -> float:
        return self.model_power_mw / self.whole.power_mw - 1.0


def check_models(accel: Accelerator, models: ModelSet, whole: Part) -> ModelCheck:
    """The composed models against the whole accelerator measured by `measure_whole`."""
    model_area, model_power = modeled_core(models, accel)
    return ModelCheck(accel.pe.label, accel.rows, accel.cols, whole, model_area, model_power)


def measure_whole(
    accel: Accelerator, liberty: Path, cache: Path | None = None, mapping: Mapping | None = None
) -> Part:
    """Synthesize the whole accelerator (`synthesize_whole`, GLB a black box) and measure its
    power with the RTL activity of the probe layer (`probe_layer_toggles`) under `mapping`
    (default: `qappac.characterize.fixed_probe_mapping`, the one its PEs and its shell are
    characterized with; `qappac.characterize.probe_mapping` gives the accelerator's own
    optimal one).

    With `cache`, the result is stored there under the same kind of key as a
    characterization job (`qappac.characterize.job_key`: the whole's RTL, the liberty's
    hash, the tool versions, the flow, the mapping), so that models refitted later are
    checked against it in seconds."""
    files = emit_accelerator(accel, port_of(accel), glb_blackbox=True)
    mapping = mapping if mapping is not None else fixed_probe_mapping(accel)
    path = None
    if cache is not None:
        options = FlowOptions(clock_mhz=accel.clock_mhz, activity="simulated")
        sources = {"whole": "tiled", "mapping": repr(mapping), **files}
        key = job_key(sources, file_sha256(liberty), tool_versions(), options)
        path = cache / f"whole-{key}.json"
        if path.is_file():
            return Part(**json.loads(path.read_text(encoding="utf-8")))
    toggles = probe_layer_toggles(accel, mapping)
    netlist, area = synthesize_whole(accel, liberty)
    whole = measure(
        "whole", netlist, area, top_name(accel), toggles, liberty, 1e3 / accel.clock_mhz
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(dataclasses.asdict(whole), sort_keys=True) + "\n")
    return whole


def synthesize_whole(accel: Accelerator, liberty: Path) -> tuple[str, float]:
    """The whole accelerator's netlist and area (global buffer a black box), built as a
    tiled array is: the array PE mapped once on its own and its instances flattened into
    the accelerator after mapping (`qappac.tools.yosys.map_commands`), so that no logic
    is shared across PE boundaries; inside it the MAC mapped apart as in the PE jobs
    (`qappac.characterize.mapped_apart`). Mapped as one, the flattened PEs share the decoding
    of their broadcast scratchpad addresses (docs/validation.md), which no PE model can
    see."""
    files = emit_accelerator(accel, port_of(accel), glb_blackbox=True)
    return synthesize_netlist(
        files,
        top_name(accel),
        liberty,
        share=False,
        keep=(pe_module(accel), *mapped_apart(pe_module(accel))),
    )


def synthesize_parts(
    accel: Accelerator, liberty: Path
) -> tuple[tuple[str, float], tuple[str, float]]:
    """The accelerator's shell (PEs and global buffer black boxes) and its array PE, each
    mapped on its own: netlist and area of each."""
    files = emit_accelerator(accel, port_of(accel), glb_blackbox=True)
    pe_top = pe_module(accel)
    shell = synthesize_netlist(files, top_name(accel), liberty, share=False, blackboxes=(pe_top,))
    pe_files = {n: t for n, t in files.items() if n == REGFILE or n.startswith(pe_top)}
    return shell, synthesize_netlist(
        pe_files, pe_top, liberty, share=False, keep=mapped_apart(pe_top)
    )


def pe_module(accel: Accelerator) -> str:
    """The array PE's module name."""
    return array_pe_name(accel.pe)


def check_composition(
    accel: Accelerator,
    layer: LayerShape,
    batch: int,
    mapping: Mapping,
    liberty: Path,
    *,
    seed: int = 0,
) -> Composition:
    """Synthesize the whole accelerator, its shell and its PE; simulate the layer on the RTL,
    on the whole netlist and on the stitched parts (each checked bit for bit and cycle for
    cycle); measure area and power of every netlist."""
    top = top_name(accel)
    pe_top = pe_module(accel)
    whole_net, whole_area = synthesize_whole(accel, liberty)
    (shell_net, shell_area), (pe_net, pe_area) = synthesize_parts(accel, liberty)

    run = functools.partial(layer_activity, accel, layer, batch, mapping, seed, top)
    rtl, cycles = run(None)
    whole_gl, _ = run(gate_level_sources(accel, liberty, {"whole.v": whole_net}))
    parts_gl, _ = run(gate_level_sources(accel, liberty, {"shell.v": shell_net, "pe.v": pe_net}))

    period = 1e3 / accel.clock_mhz
    npe = accel.rows * accel.cols

    def pes(toggles: Toggles) -> tuple[Part, ...]:
        return tuple(
            measure(
                f"pe[{k}]", pe_net, pe_area, pe_top, toggles.scope(_pe_scope(k)), liberty, period
            )
            for k in range(npe)
        )

    return Composition(
        accel.pe.label,
        accel.rows,
        accel.cols,
        cycles,
        whole=measure("whole", whole_net, whole_area, top, whole_gl, liberty, period),
        shell=measure("shell", shell_net, shell_area, top, parts_gl, liberty, period),
        pes=pes(parts_gl),
        whole_rtl=measure("whole", whole_net, whole_area, top, rtl, liberty, period),
        shell_rtl=measure("shell", shell_net, shell_area, top, rtl, liberty, period),
        pes_rtl=pes(rtl),
    )


def _pe_scope(k: int) -> str:
    return f"g_pe[{k}].u_pe"


def gate_level_sources(
    accel: Accelerator, liberty: Path, netlists: dict[str, str]
) -> dict[str, str]:
    """What Verilator needs to simulate netlists of the accelerator: the liberty's cell
    models (not traced), the behavioral global buffer (left as a black box in synthesis),
    and the netlists."""
    models = "/*verilator tracing_off*/\n" + liberty_models(liberty)
    rtl = emit_accelerator(accel, port_of(accel))
    glb = {n: t for n, t in rtl.items() if n.startswith("qappac_glb_")}
    return {"cells_sim.v": models, **glb, **netlists}


def layer_activity(
    accel: Accelerator,
    layer: LayerShape,
    batch: int,
    mapping: Mapping,
    seed: int,
    top: str,
    netlist: dict[str, str] | None,
) -> tuple[Toggles, int]:
    """Run the layer (RTL, or the given gate-level sources) with a VCD; its toggles."""
    from qappac.sim_accel import describe, simulate_layer

    with tempfile.TemporaryDirectory(prefix="qappac-compose-") as tmp:
        vcd = Path(tmp) / "layer.vcd"
        result = simulate_layer(layer, accel, batch, mapping, seed, vcd=vcd, netlist=netlist)
        if not result.ok:
            what = "RTL" if netlist is None else "gate-level netlist"
            raise RuntimeError(f"the {what} does not run the layer correctly:\n{describe(result)}")
        return read_vcd(vcd, top), result.cycles


def measure(
    name: str,
    netlist: str,
    area: float,
    top: str,
    toggles: Toggles,
    liberty: Path,
    period_ns: float,
    *,
    resets: Sequence[str] = ("rst_n",),
) -> Part:
    """Power of a netlist with the simulated activities applied per input and per flop."""
    annotated = annotate(netlist, toggles, liberty)
    present = set(input_bits(netlist))
    report = sta.analyze(
        annotated.netlist,
        top,
        "clk",
        period_ns,
        annotated.activity,
        liberty=liberty,
        false_path_from=tuple(r for r in resets if r in present),
    )
    return Part(
        name,
        area,
        report.dynamic_mw,
        report.leakage_mw,
        annotated.flops,
        annotated.cut_flops,
    )
