"""The wheel carries grammar/, backends/ and specs/: build it, install it into a fresh virtual
environment (with system site packages, so numpy and friends are not downloaded again) and run
`qappac build` on a bundled spec from there."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.mark.skipif(
    subprocess.run(
        [sys.executable, "-c", "import hatchling, build"], capture_output=True
    ).returncode
    != 0,
    reason="needs the 'build' and 'hatchling' packages (pip install -e '.[dev]')",
)
def test_wheel_installs_and_builds_a_bundled_spec(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("qappac-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import qappac, qappac.resources as r; print(qappac.__file__); "
            "print(r.data_dir('specs'))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    ).stdout.split()
    assert where[0].startswith(str(env_dir)), "the venv must import the installed wheel"
    specs = Path(where[1])
    assert specs.is_relative_to(env_dir) and (specs / "eyeriss.qa").is_file()
    result = subprocess.run(
        [str(env_dir / "bin" / "qappac"), "build", str(specs / "eyeriss.qa"), "-o", "out"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (work / "out" / "eyeriss_alexnet" / "report.md").is_file()
