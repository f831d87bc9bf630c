"""From the batched decoding loop (a worker thread) to one request's coroutine, token by token.

Each request that reaches the model carries a `TokenStream`. The decoding loop calls `on_ids` with
the request's ids after every step (inside the model lock); the stream turns them into text deltas and
hands them to the event loop, and tells the loop to drop the row when the client has gone.

Deltas only ever extend the text the response will finally hold: the text is cut at EOS and at the
first stop string and stripped, as `LocalLLM.to_generations` does, and whatever could still change
(a half-decoded character, the start of a stop string, trailing whitespace) is held back until the
next step or the end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, TypeVar

from starlette.types import Receive

T = TypeVar("T")

_DONE = None  # queue sentinel: the generation finished (or failed); read the future


class TokenStream:
    """Text deltas of one row of a batched generation, plus its cancellation flag."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, tokenizer: Any, stop: Sequence[str], live: bool
    ) -> None:
        self._loop = loop
        self._tokenizer = tokenizer
        self._stop = tuple(stop)
        self._holdback = max((len(s) for s in self._stop), default=1) - 1
        self._live = live  # False: nobody reads deltas (a non-streamed response); skip decoding
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._cancelled = threading.Event()
        self.sent = ""  # the text handed out so far

    # --- worker thread ----------------------------------------------------------------------------

    def cancel(self) -> None:
        """The client hung up: the decoding loop drops this row at its next step."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def on_ids(self, ids: list[int]) -> bool:
        """Called by the decoding loop after each step; True ends the row (its client has gone)."""
        if self._cancelled.is_set():
            return True
        if self._live:
            text = self._stable_text(ids)
            if len(text) > len(self.sent) and text.startswith(self.sent):
                delta, self.sent = text[len(self.sent) :], text
                self._loop.call_soon_threadsafe(self._queue.put_nowait, delta)
        return False

    def finish(self) -> None:
        """Wake the reader: the generation is over (its result or error is on the future)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, _DONE)

    def _stable_text(self, ids: list[int]) -> str:
        eos = self._tokenizer.eos_token_id
        if eos in ids:
            ids = ids[: ids.index(eos)]
        text = self._tokenizer.decode(ids, skip_special_tokens=True).lstrip()
        cuts = [text.find(s) for s in self._stop if s in text]
        if cuts:
            return text[: min(cuts)].rstrip()
        text = text.rstrip("\ufffd")  # a character whose bytes are not all generated yet
        if self._holdback:
            text = text[: max(len(text) - self._holdback, 0)]
        return text.rstrip()

    # --- event loop -------------------------------------------------------------------------------

    async def deltas(self) -> AsyncIterator[str]:
        """Deltas as the decoding loop produces them, until the generation is over."""
        while (delta := await self._queue.get()) is not _DONE:
            yield delta

    def rest(self, final_text: str) -> str:
        """What the final text adds to the deltas sent (all of it when nothing was streamed)."""
        return final_text[len(self.sent) :] if final_text.startswith(self.sent) else ""


class ClientGone(Exception):
    """The client disconnected before its answer was ready; its work has been cancelled."""


async def until_disconnected(receive: Receive) -> None:
    """Returns when the client disconnects (the request body has been read by then)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def watched(events: AsyncGenerator[T, None], receive: Receive) -> AsyncIterator[T]:
    """`events`, closed as soon as the client disconnects (closing them cancels their model work);
    then ClientGone. Starlette stops a stream only at its next send, and a plain response never."""
    watcher = asyncio.ensure_future(until_disconnected(receive))
    step: asyncio.Future[T] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({step, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if step not in done:
                raise ClientGone
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        watcher.cancel()
        if step is not None and not step.done():
            # A step still waits for the next delta (also when the server cancelled us, having seen
            # the disconnect first): cancelling it ends the events, which cancels their work.
            step.cancel()
        else:
            await events.aclose()
