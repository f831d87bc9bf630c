"""DynamicBatcher: concurrent submissions share batches, keys never mix, overload and errors surface."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.batching import BatcherFull, DynamicBatcher


class Recorder:
    """A real batch function that remembers the batches it was given."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list] = []
        self.delay = delay
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items: list) -> list:
        self.started.set()
        self.release.wait()
        time.sleep(self.delay)
        self.batches.append(list(items))
        return [item * 10 if isinstance(item, int) else item[1] * 10 for item in items]


def test_concurrent_submits_are_merged_and_answered_in_order() -> None:
    recorder = Recorder()
    batcher = DynamicBatcher(recorder, max_batch_size=8, max_wait_s=0.2)
    barrier = threading.Barrier(8)

    def call(i: int) -> int:
        barrier.wait()
        return batcher.submit(i, timeout=10)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert results == [i * 10 for i in range(8)]
    assert len(recorder.batches) < 8
    stats = batcher.stats()
    assert stats.items == 8
    assert stats.batches == len(recorder.batches)
    assert stats.max_batch_size_seen == max(len(b) for b in recorder.batches) > 1
    assert stats.queue_depth == 0
    batcher.close()


def test_max_batch_size_and_keys_are_respected() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = DynamicBatcher(recorder, max_batch_size=3, max_wait_s=0.05, key=lambda item: item[0])
    blocker = batcher.submit_async(("a", 0))
    assert recorder.started.wait(5)  # the worker is busy: everything below queues up
    futures = [batcher.submit_async((key, i)) for i, key in enumerate("ababababa")]
    assert batcher.queue_depth == 9
    recorder.release.set()
    assert [f.result(timeout=10) for f in futures] == [i * 10 for i in range(9)]
    blocker.result(timeout=10)
    for batch in recorder.batches:
        assert len(batch) <= 3
        assert len({key for key, _ in batch}) == 1
    assert batcher.stats().batch_sizes.get(3, 0) >= 2
    batcher.close()


def test_bounded_queue_raises_batcher_full() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = DynamicBatcher(recorder, max_batch_size=1, max_wait_s=0.0, max_queue=2)
    first = batcher.submit_async(1)
    assert recorder.started.wait(5)
    queued = [batcher.submit_async(2), batcher.submit_async(3)]
    with pytest.raises(BatcherFull):
        batcher.submit_async(4)
    recorder.release.set()
    assert [f.result(timeout=10) for f in [first, *queued]] == [10, 20, 30]
    batcher.close()


def test_errors_reach_every_caller_of_the_batch() -> None:
    def failing(items: list) -> list:
        raise ValueError(f"bad batch of {len(items)}")

    batcher = DynamicBatcher(failing, max_batch_size=4, max_wait_s=0.1)
    futures = [batcher.submit_async(i) for i in range(3)]
    for future in futures:
        with pytest.raises(ValueError, match="bad batch"):
            future.result(timeout=10)
    batcher.close()
