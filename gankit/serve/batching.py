"""Dynamic batching: sample requests for one run that arrive within a short window go through the network
together (one G call for many requests: `RunPipeline.many`), so throughput grows with load; each request
still gets exactly the samples its own seed gives.

A request waits at most `window` seconds for company, and a batch holds at most `max_samples` samples.
Requests are grouped by their options (EMA, domain), which must be equal within one call. The network runs
in one worker thread per run, so the event loop keeps accepting requests while it computes.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..pipelines import RunPipeline, Samples


@dataclass
class Ask:
    n: int
    seed: int
    condition: object
    options: dict
    future: asyncio.Future = field(repr=False, default=None)

    def key(self) -> tuple:
        return tuple(sorted(self.options.items()))


class Batcher:
    def __init__(self, pipe: RunPipeline, window: float = 0.005, max_samples: int = 64):
        self.pipe, self.window, self.max_samples = pipe, window, max_samples
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.loop = None
        self.carry: Ask | None = None   # the ask that did not fit in the last batch: it opens the next
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="gankit-model")
        self.calls = 0          # network calls made, and requests served: their ratio is the batching's gain
        self.requests = 0

    async def sample(self, n: int, seed: int, condition=None, **options) -> Samples:
        """The samples of one request, batched with whatever arrives within the window."""
        loop = asyncio.get_running_loop()
        if self.window <= 0:  # batching off: every request alone (the benchmark's baseline)
            return (await self.run_group(loop, [Ask(n, seed, condition, options)]))[0]
        if self.loop is not loop or self.worker.done():  # first use, or a new event loop (tests)
            self.loop, self.queue, self.carry = loop, asyncio.Queue(), None
            self.worker = loop.create_task(self.serve_forever())
        ask = Ask(n, seed, condition, options, loop.create_future())
        await self.queue.put(ask)
        return await ask.future

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self.collect(loop)
            groups: dict[tuple, list[Ask]] = {}
            for ask in batch:
                groups.setdefault(ask.key(), []).append(ask)
            for asks in groups.values():
                try:
                    results = await self.run_group(loop, asks)
                except Exception as e:  # a bad request fails alone: retry the group one by one
                    results = await self.one_by_one(loop, asks) if len(asks) > 1 else [e]
                for ask, result in zip(asks, results):
                    if not ask.future.done():
                        (ask.future.set_exception if isinstance(result, Exception) else ask.future.set_result)(result)

    async def collect(self, loop) -> list[Ask]:
        """The first waiting request and those arriving within the window, up to max_samples samples."""
        batch = [self.carry or await self.queue.get()]
        self.carry = None
        total, deadline = batch[0].n, loop.time() + self.window
        while total < self.max_samples:
            try:
                ask = self.queue.get_nowait() if not self.queue.empty() else \
                    await asyncio.wait_for(self.queue.get(), max(0.0, deadline - loop.time()))
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            if total + ask.n > self.max_samples:
                self.carry = ask
                break
            batch.append(ask)
            total += ask.n
        return batch

    async def run_group(self, loop, asks: list[Ask]) -> list[Samples]:
        self.calls += 1
        self.requests += len(asks)
        triples = [(a.n, a.seed, a.condition) for a in asks]
        return await loop.run_in_executor(self.executor, lambda: self.pipe.many(triples, **asks[0].options))

    async def one_by_one(self, loop, asks: list[Ask]) -> list:
        results = []
        for ask in asks:
            try:
                results.append((await self.run_group(loop, [ask]))[0])
            except Exception as e:
                results.append(e)
        return results

    async def call(self, fn):
        """Anything else that uses the run's nets (uploads to stylize, export), in the same worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
