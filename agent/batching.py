"""Dynamic batching: merge requests that arrive from many threads within a few ms into one call.

A 135M model on 2 CPU cores answers a batch of 8 prompts in little more time than one prompt, so
concurrent callers (LangChain `.batch()`, an evaluation thread pool, the OpenAI-compatible server)
gain a lot when their requests share one `generate` call. This module knows nothing about models:
it batches any items through a function you hand it.

API (the server reuses it for its request batching and `/metrics`):

    batcher = DynamicBatcher(process, max_batch_size=16, max_wait_s=0.005, max_queue=256, key=None)
    result = batcher.submit(item, timeout=None)    # blocks until `process` has handled the item
    future = batcher.submit_async(item)            # concurrent.futures.Future of the result
    batcher.queue_depth                            # items waiting, not yet in a batch
    batcher.stats()                                # BatcherStats snapshot (see below)
    batcher.close()                                # stop the worker; pending items fail

- `process(items: list[T]) -> list[R]` is called from one worker thread with 1..max_batch_size items
  and must return one result per item, in order. If it raises, every item of that batch gets the error.
- `key(item) -> Hashable` groups items that may share a batch (e.g. the same max_tokens and stop
  strings, which one `generate` call cannot mix); items with another key wait for a later batch, in
  arrival order. None means all items are compatible.
- The worker waits at most `max_wait_s` after the oldest queued item arrived before it runs a batch
  that is not yet full, so an idle system adds at most that latency.
- The queue is bounded: when `max_queue` items wait, `submit`/`submit_async` raise `BatcherFull`
  (the server maps that to HTTP 503) instead of queueing without limit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatcherFull(RuntimeError):
    """The bounded queue is full; the caller should retry later or report overload."""


class BatcherClosed(RuntimeError):
    """The batcher was closed before the item was processed."""


@dataclass
class BatcherStats:
    queue_depth: int
    batches: int  # process() calls so far
    items: int  # items processed so far
    max_batch_size_seen: int
    batch_sizes: dict[int, int] = field(default_factory=dict)  # batch size -> how many batches had it

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


@dataclass
class _Pending(Generic[T, R]):
    item: T
    key: Hashable
    arrived: float
    future: Future[R]


class DynamicBatcher(Generic[T, R]):
    def __init__(
        self,
        process: Callable[[list[T]], list[R]],
        *,
        max_batch_size: int = 16,
        max_wait_s: float = 0.005,
        max_queue: int = 256,
        key: Callable[[T], Hashable] | None = None,
        name: str = "dynamic-batcher",
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1 and max_wait_s >= 0")
        self._process = process
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._key = key or (lambda _item: None)
        self._name = name
        self._queue: deque[_Pending[T, R]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None
        self._batches = 0
        self._items = 0
        self._sizes: Counter[int] = Counter()

    @property
    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def stats(self) -> BatcherStats:
        with self._cond:
            return BatcherStats(
                queue_depth=len(self._queue),
                batches=self._batches,
                items=self._items,
                max_batch_size_seen=max(self._sizes, default=0),
                batch_sizes=dict(sorted(self._sizes.items())),
            )

    def submit_async(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        pending = _Pending(item, self._key(item), time.monotonic(), future)
        with self._cond:
            if self._closed:
                raise BatcherClosed(f"{self._name} is closed")
            if len(self._queue) >= self.max_queue:
                raise BatcherFull(f"{self._name}: {len(self._queue)} requests already queued")
            self._queue.append(pending)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._worker.start()
            self._cond.notify_all()
        return future

    def submit(self, item: T, timeout: float | None = None) -> R:
        return self.submit_async(item).result(timeout=timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for entry in pending:
            entry.future.set_exception(BatcherClosed(f"{self._name} closed before this request ran"))

    def _take_batch(self) -> list[_Pending[T, R]] | None:
        """Wait for a batch: full, or the oldest item has waited max_wait_s. None when closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                if not self._queue:
                    self._cond.wait()
                    continue
                head = self._queue[0]
                same_key = [entry for entry in self._queue if entry.key == head.key]
                remaining = head.arrived + self.max_wait_s - time.monotonic()
                if len(same_key) >= self.max_batch_size or remaining <= 0:
                    batch = same_key[: self.max_batch_size]
                    chosen = {id(entry) for entry in batch}
                    self._queue = deque(entry for entry in self._queue if id(entry) not in chosen)
                    return batch
                self._cond.wait(timeout=remaining)

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            live = [entry for entry in batch if entry.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self._process([entry.item for entry in live])
                if len(results) != len(live):
                    raise RuntimeError(f"process returned {len(results)} results for {len(live)} items")
            except Exception as error:  # every caller of the batch must hear about the failure
                for entry in live:
                    entry.future.set_exception(error)
            else:
                for entry, result in zip(live, results, strict=True):
                    entry.future.set_result(result)
            with self._cond:
                self._batches += 1
                self._items += len(live)
                self._sizes[len(live)] += 1
