"""Where a fit's blocks live and its evaluations run.

:class:`Cluster` keeps the blocks on a ``distributed`` cluster as futures the
fit owns, one per group of consecutive blocks; :class:`InProcess` computes
them once with dask's default scheduler and keeps them in this process.
Both add the blocks' sums in the tree of :mod:`._sums`, so they give the
same bits.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from .._network import EngineSpec
from ._sums import Sums, group_sums, merge, range_sums, total

# Range results added per merge task: a merge receives at most this many
# ranges' nodes, and the tree of merges over the workers is that wide.
_FAN_IN = 8


def backend():
    """The current ``distributed`` client's cluster, else this process."""
    try:
        from distributed import default_client
    except ImportError:
        return InProcess()
    try:
        return Cluster(default_client())
    except ValueError:  # no client: dask's default scheduler
        return InProcess()


class InProcess:
    """Blocks computed with dask's default scheduler and kept here."""

    def __init__(self) -> None:
        self.blocks: list = []

    def n_threads(self) -> int:
        """Threads of dask's default (threaded) scheduler."""
        return os.cpu_count() or 1

    def compute(self, tasks: list) -> list:
        import dask

        return list(dask.compute(*tasks))

    def map(self, func, items: list, *args) -> list:
        return [func(item, *args) for item in items]

    def gather(self, items: list) -> list:
        return list(items)

    def encode(self, checked: list, rows, counts, func, *args) -> None:
        self.blocks = [block for group in checked for block in func(group, *args)]

    def evaluate(self, spec: EngineSpec, params: np.ndarray) -> Sums:
        n = len(self.blocks)
        return total(n, range_sums(0, n, spec, params, *self.blocks))

    def release(self) -> None:
        self.blocks = []


class Cluster:
    """Blocks held on a ``distributed`` cluster as this fit's futures.

    The fit owns only the futures it created and lets them go by releasing
    them, which drops its own references.  It never cancels a key: a block
    of a persisted input has the user's key, and cancelling it would cancel
    the user's data (and an in-flight cancel confuses the scheduler).
    """

    def __init__(self, client) -> None:
        self.client = client
        self._held: list = []
        # (first block index, its groups' futures, preferred worker) per range.
        self.ranges: list[tuple[int, list, str | None]] = []
        self.n_blocks = 0

    def _own(self, futures: list) -> list:
        self._held.extend(futures)
        return futures

    def _submit(self, worker, func, *args):
        """``client.submit``, preferring ``worker`` (None: the scheduler's choice).

        The restriction is loose: a task whose worker is gone runs elsewhere.
        """
        (future,) = self._own(
            [
                self.client.submit(
                    func,
                    *args,
                    pure=False,
                    workers=None if worker is None else [worker],
                    allow_other_workers=worker is not None,
                )
            ]
        )
        return future

    def n_threads(self) -> int:
        """Threads of the cluster's workers."""
        workers = self.client.scheduler_info()["workers"].values()
        return max(sum(max(int(w.get("nthreads", 1)), 1) for w in workers), 1)

    def compute(self, tasks: list) -> list:
        return self._own(self.client.compute(tasks))

    def map(self, func, items: list, *args) -> list:
        return [self._submit(None, func, item, *args) for item in items]

    def gather(self, futures: list) -> list:
        return self._waiting(self._fetch, futures)

    def _fetch(self, futures):
        """The results of ``futures`` (a list, or one future)."""
        _ready(self.client, futures if isinstance(futures, list) else [futures])
        return self.client.gather(futures)

    def _waiting(self, wait, *args):
        """``wait(*args)``, raising the client's ``ClosedClientError`` when
        the client closed meanwhile.

        Closing a client cancels its futures: what was being waited for
        raises ``FutureCancelledError`` ("cancelled for reason: unknown"),
        ``RuntimeError`` once the client's event loop is gone, or, when the
        cancellation reaches distributed's own ``sync`` helper first, that
        helper's ``UnboundLocalError`` (distributed 2026.11): none of them
        names the cause or is what the caller can catch.  So any error
        raised while the client is closing is taken for the closing.
        """
        try:
            return wait(*args)
        except Exception:  # FutureCancelledError is one too
            status = self.client.status
            if status not in ("closing", "closed"):
                raise
        # Raised outside the handler: the closed client is the cause, not a
        # consequence of the cancellation.
        from distributed.client import ClosedClientError

        raise ClosedClientError(
            f"Client is {status}. Can't finish fastnn.dask.fit on its cluster."
        )

    def encode(self, checked: list, rows, counts, func, *args) -> None:
        """Encode every group of blocks on the worker of its range; let the
        checked go.  ``rows`` and ``counts``: per group, the rows and the
        number of its blocks that are trained on (groups without any are
        dropped)."""
        kept = [g for g, count in enumerate(counts) if count]
        groups = [checked[g] for g in kept]
        placement = self._contiguous_ranges(groups, np.asarray(rows)[kept])
        # Index of each kept group's first block among the trained blocks.
        first = np.concatenate([[0], np.cumsum(np.asarray(counts)[kept])])
        self.n_blocks = int(first[-1])
        self.ranges = []
        for start, stop, worker in placement:
            futures = [
                self._submit(worker, func, group, *args) for group in groups[start:stop]
            ]
            self.ranges.append((int(first[start]), futures, worker))
        self._drop(checked)

    def _contiguous_ranges(self, futures: list, rows: np.ndarray) -> list:
        """``(start, stop, worker)``: consecutive groups of blocks (futures,
        of ``rows`` rows each) per worker thread.

        Every evaluation waits for the busiest worker, so each worker thread
        gets about its share of the rows; a range of consecutive blocks adds
        up into a few nodes of the tree (:mod:`._sums`), so each range sends
        back O(log blocks) sums whatever the number of blocks.  Ranges go to
        the workers that already hold most of their rows, which moves the
        fewest rows (once, before the first evaluation).
        """
        info = self.client.scheduler_info()["workers"]
        threads = {w: max(int(info[w].get("nthreads", 1)), 1) for w in sorted(info)}
        n_slots = sum(threads.values())
        if n_slots < 2:
            return [(0, len(futures), None)]
        starts = np.concatenate([[0], np.cumsum(rows)[:-1]])
        slot = (starts * n_slots) // rows.sum()
        bounds = [0, *np.flatnonzero(np.diff(slot)) + 1, len(futures)]
        spans = list(zip(bounds[:-1], bounds[1:]))
        holders = self.client.who_has(futures)
        held = []  # rows of each span on each worker
        for start, stop in spans:
            on = dict.fromkeys(threads, 0)
            for i in range(start, stop):
                for worker in holders.get(futures[i].key, ()):
                    if worker in on:
                        on[worker] += rows[i]
            held.append(on)
        placement = {}
        order = sorted(range(len(spans)), key=lambda s: -max(held[s].values()))
        for s in order:
            free = [w for w in threads if threads[w]]
            worker = max(free, key=held[s].__getitem__)
            threads[worker] -= 1
            placement[s] = worker
        return [(start, stop, placement[s]) for s, (start, stop) in enumerate(spans)]

    def evaluate(self, spec: EngineSpec, params: np.ndarray) -> Sums:
        """Sums over every block: one task per range, then a tree of merges."""
        created_from = len(self._held)
        try:
            # One copy of the parameters goes out per evaluation, as a task
            # rather than scattered data: the ranges' workers fetch it, and a
            # worker lost mid-evaluation takes nothing with it that cannot be
            # recomputed (a scatter to every worker waits forever for one
            # that died since the last evaluation).
            params_f = self._submit_parameters(params)
            # Each range runs where its blocks are: left free, the scheduler
            # hands a task to whichever worker is idle first and copies the
            # rows there (measured: 50 MB blocks moved mid-fit, evaluations
            # 60% slower).
            level = [
                self._submit(
                    worker, group_sums, start, self.n_blocks, spec, params_f, *groups
                )
                for start, groups, worker in self.ranges
            ]
            while len(level) > 1:
                level = [
                    self._submit(None, merge, self.n_blocks, *level[i : i + _FAN_IN])
                    if len(level[i : i + _FAN_IN]) > 1
                    else level[i]
                    for i in range(0, len(level), _FAN_IN)
                ]
            nodes = self._waiting(self._fetch, level[0])
        finally:
            self._drop(self._held[created_from:])
        return total(self.n_blocks, nodes)

    def _submit_parameters(self, params: np.ndarray):
        """The parameters' task, without distributed's large-graph warning.

        distributed warns when a graph exceeds a threshold (10 MB by
        default: 1.3M float64 parameters), at every evaluation of a large
        model, though the parameters are new data sent once, which no
        "loading the data with Dask" or future could spare.  The threshold
        is raised by the parameters' own size for this one submission:
        anything else in the graph still warns as it would.
        """
        import dask

        key = "distributed.admin.large-graph-warning-threshold"
        threshold = dask.utils.parse_bytes(dask.config.get(key))
        with dask.config.set({key: threshold + params.nbytes}):
            return self._submit(None, _parameters, params)

    def _drop(self, futures: list) -> None:
        """Release this fit's references to ``futures``."""
        dropped = {id(f) for f in futures}
        self._held = [f for f in self._held if id(f) not in dropped]
        for future in futures:
            with contextlib.suppress(Exception):  # a closed client: nothing held
                future.release()

    def release(self) -> None:
        self.ranges = []
        self._drop(list(self._held))


def _ready(client, futures: list) -> None:
    """Wait in this thread until every future is done.

    The client's own waits (``Future.result``, ``Client.gather``) run in its
    event loop, and Ctrl-C there orphans the loop's wait: once the fit lets
    the futures go, asyncio logs "Task exception was never retrieved ...
    AllExit" for each, or tornado a ``NameError`` when the interrupt came
    first.  Here Ctrl-C interrupts a plain ``threading.Event``, and the
    results are fetched only once they are there.
    """
    if not futures:
        return
    lock = threading.Lock()
    done = threading.Event()
    pending = len(futures)

    def one_done(_) -> None:
        nonlocal pending
        with lock:
            pending -= 1
            if not pending:
                done.set()

    for future in futures:
        future.add_done_callback(one_done)
    while not done.wait(0.2) and client.status == "running":
        pass
    if client.status != "running":
        # A closing client may stop its loop before the callbacks run, and
        # a gather from it can then wait forever (distributed 2026.11).
        raise RuntimeError(f"the client is {client.status}")


def _parameters(params: np.ndarray) -> np.ndarray:
    return params
