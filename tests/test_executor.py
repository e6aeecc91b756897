"""The sweep executors: ordered results locally, in process pools and on a Dask cluster."""

from __future__ import annotations

import builtins
import os
from typing import Any

import pytest

from qappac.executor import (
    DaskExecutor,
    Executor,
    ExecutorError,
    LocalExecutor,
    make_executor,
)


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_local_in_process_keeps_order() -> None:
    results = LocalExecutor(jobs=1).map(_square_and_pid, [3, 1, 2])
    assert [r for r, _ in results] == [9, 1, 4]
    assert {pid for _, pid in results} == {os.getpid()}


def test_local_pool_keeps_order_and_uses_other_processes() -> None:
    items = list(range(20, 0, -1))
    results = LocalExecutor(jobs=2).map(_square_and_pid, items)
    assert [r for r, _ in results] == [x * x for x in items]
    assert os.getpid() not in {pid for _, pid in results}


def test_local_errors_propagate() -> None:
    with pytest.raises(ValueError, match="three"):
        LocalExecutor(jobs=2).map(_fail_on_three, [1, 2, 3, 4])


def test_make_executor_and_protocol() -> None:
    local = make_executor(jobs=3)
    assert isinstance(local, LocalExecutor) and local.jobs == 3
    assert isinstance(local, Executor)
    assert make_executor().map(abs, []) == []
    with pytest.raises(ValueError):
        LocalExecutor(jobs=0)


def test_missing_distributed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_distributed(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ExecutorError, match=r"qappac\[dask\]"):
        make_executor(scheduler="tcp://127.0.0.1:1")


def test_dask_local_cluster_keeps_order() -> None:
    distributed = pytest.importorskip(
        "distributed", reason="Dask tests need 'distributed': pip install 'qappac[dask]'"
    )
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = DaskExecutor(client=client)
        assert isinstance(executor, Executor)
        items = [5, 5, 1, 7]  # repeated items stay separate jobs
        assert [r for r, _ in executor.map(_square_and_pid, items)] == [25, 25, 1, 49]
        assert executor.map(_square_and_pid, []) == []
        with pytest.raises(ValueError, match="three"):
            executor.map(_fail_on_three, [1, 3])
        executor.close()  # it does not own the client: still usable
        assert client.submit(abs, -2).result() == 2
        # by address, as `make_executor(scheduler=...)` does
        by_address = make_executor(scheduler=cluster.scheduler_address)
        assert isinstance(by_address, DaskExecutor)
        assert by_address.map(abs, [-1, -2]) == [1, 2]
        by_address.close()
