"""Golden files: every file `qappac build` writes for each bundled spec, and the layer table of
every bundled network, compared byte for byte with `golden/`.

`pytest --update-golden` (or QAPPAC_UPDATE_GOLDEN=1) rewrites them and reports what changed;
the golden diff is reviewed with the code.
"""

from __future__ import annotations

import difflib
import shutil
import warnings
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, SPECS, run_cli

from qappac.build import compile_file

DESIGN_SPECS = sorted(p for p in SPECS.glob("*.qa") if compile_file(p).designs)
NETWORK_SPECS = sorted((SPECS / "networks").glob("*.qa"))


def _tree(folder: Path) -> dict[str, str]:
    """The text files of a build; images (plots/) are checked for determinism, not content."""
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "plots" not in p.relative_to(folder).parts
    }


def _compare(actual: dict[str, str], golden_dir: Path, update: bool) -> None:
    expected = _tree(golden_dir) if golden_dir.exists() else {}
    problems = []
    for rel in sorted(set(actual) | set(expected)):
        if rel not in expected:
            problems.append(f"new file {rel} (not in {golden_dir})")
        elif rel not in actual:
            problems.append(f"missing file {rel} (expected by {golden_dir})")
        elif actual[rel] != expected[rel]:
            diff = difflib.unified_diff(
                expected[rel].splitlines(keepends=True),
                actual[rel].splitlines(keepends=True),
                f"golden/{rel}",
                f"actual/{rel}",
                n=2,
            )
            problems.append("".join(list(diff)[:200]))
    if not problems:
        return
    if update:
        if golden_dir.exists():
            shutil.rmtree(golden_dir)
        for rel, text in actual.items():
            target = golden_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
        warnings.warn(f"updated {golden_dir}:\n" + "\n".join(problems), stacklevel=1)
        return
    pytest.fail("golden mismatch (run pytest --update-golden to accept):\n" + "\n".join(problems))


@pytest.mark.parametrize("spec", DESIGN_SPECS, ids=lambda p: p.stem)
def test_build_matches_golden(spec: Path, tmp_path: Path, update_golden: bool) -> None:
    result = run_cli("build", str(spec), "-o", str(tmp_path), "--no-src")
    assert result.code == 0, result.err
    _compare(_tree(tmp_path), GOLDEN / spec.stem, update_golden)


@pytest.mark.parametrize("spec", NETWORK_SPECS, ids=lambda p: p.stem)
def test_network_table_matches_golden(spec: Path, update_golden: bool) -> None:
    result = run_cli("show", "network", str(spec), spec.stem)
    assert result.code == 0, result.err
    _compare({f"{spec.stem}.md": result.out}, GOLDEN / "networks" / spec.stem, update_golden)


def test_build_is_deterministic(tmp_path: Path) -> None:
    spec = SPECS / "eyeriss.qa"
    assert run_cli("build", str(spec), "-o", str(tmp_path / "a")).code == 0
    assert run_cli("build", str(spec), "-o", str(tmp_path / "b")).code == 0
    first, second = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert first and first == second
    assert "eyeriss_alexnet/plots/energy_per_layer.png" in first


EXPLORE_SPECS = [ROOT / "tests" / "specs" / "small_dse.qa"]


@pytest.mark.parametrize("spec", EXPLORE_SPECS, ids=lambda p: p.stem)
def test_explore_matches_golden(spec: Path, tmp_path: Path, update_golden: bool) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = run_cli("explore", str(spec), "-o", str(out))
        assert result.code == 0, result.err
    (name,) = [p.name for p in first.iterdir()]
    files = _tree_bytes(first / name)
    assert files == _tree_bytes(second / name), "explore outputs must be byte-identical"
    networks = {"toy"}
    expected_plots = {
        f"plots/{n}_{kind}.{fmt}"
        for n in networks
        for kind in ("pareto", "energy")
        for fmt in ("png", "svg")
    }
    assert expected_plots <= set(files)
    assert all(files[p] for p in expected_plots)
    text = {rel: data.decode() for rel, data in files.items() if not rel.startswith("plots/")}
    _compare(text, GOLDEN / "explore" / spec.stem, update_golden)


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
