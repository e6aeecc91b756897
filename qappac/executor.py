"""One interface for running sweeps (explore, characterize): local processes or Dask.

An `Executor` maps a picklable function over items and returns the results in the items'
order. `LocalExecutor` uses a process pool (``jobs=1`` runs in-process, which keeps
tracebacks and debuggers simple); `DaskExecutor` submits to a Dask distributed scheduler,
imported only when used (the ``qappac[dask]`` extra). `make_executor` picks one from the
command-line options.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")
R = TypeVar("R")

DASK_HINT = "the Dask executor needs the 'distributed' package: pip install 'qappac[dask]'"


class ExecutorError(RuntimeError):
    """An executor could not be created (a missing package, an unreachable scheduler)."""


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn`` on every item, possibly in parallel; results come back in item order.

    An exception raised by ``fn`` propagates from `map` (callers that must survive failing
    items catch inside ``fn``).
    """

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Run on this machine: in-process for ``jobs == 1``, else a pool of `jobs` processes.

    >>> LocalExecutor(jobs=1).map(abs, [-1, 2, -3])
    [1, 2, 3]
    """

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1 (got {jobs})")
        self.jobs = jobs

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        work = list(items)
        if self.jobs == 1 or len(work) <= 1:
            return [fn(item) for item in work]
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(work))) as pool:
            return list(pool.map(fn, work))

    def close(self) -> None:
        """Nothing to release: each `map` owns its pool."""

    def __repr__(self) -> str:
        return f"LocalExecutor(jobs={self.jobs})"


class DaskExecutor:
    """Run on a Dask distributed cluster reached at `address` (``tcp://host:8786``).

    `client` may be passed instead of an address (e.g. one made on a ``LocalCluster``); an
    executor that created its client closes it in `close`.
    """

    def __init__(self, address: str | None = None, client: Any = None) -> None:
        if client is None:
            if address is None:
                raise ValueError("DaskExecutor needs a scheduler address or a client")
            distributed = _import_distributed()
            try:
                client = distributed.Client(address)
            except OSError as error:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {address}: {error}"
                ) from error
            self._owns = True
        else:
            self._owns = False
        self.client = client

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        work = list(items)
        if not work:
            return []
        # pure=False: identical items are still separate jobs, never deduplicated by Dask.
        futures = self.client.map(fn, work, pure=False)
        return list(self.client.gather(futures))

    def close(self) -> None:
        if self._owns:
            self.client.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"


def make_executor(jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor for the options: Dask when a `scheduler` address is given, else local.

    ``jobs=None`` uses every CPU of the machine.

    >>> make_executor(jobs=2)
    LocalExecutor(jobs=2)
    """
    if scheduler:
        return DaskExecutor(scheduler)
    return LocalExecutor(jobs=jobs if jobs is not None else (os.cpu_count() or 1))


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ExecutorError(DASK_HINT) from error
    return distributed
