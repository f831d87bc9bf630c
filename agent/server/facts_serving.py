"""The fact memory behind the server: the facts API's logic, its write discipline and upload jobs.

The serving engine holds one `FactsServing`; the QA pipelines read the memory through `reading()`.
- Writes run one at a time (`_writer`). Each is two-phase (`Memory.stage`, then `Memory.commit`): staging
  (embedding, storing the new records under a pending load id) takes no lock readers wait on, since
  staged records are invisible; only the commit (marker, flags, graph) excludes readers, briefly.
- `POST /v1/facts:load` parses and checks the upload in the request, then stages and commits it in a
  background job with an id and progress, so a large upload never holds a request, a question or
  `/health` behind it. A server killed mid-job leaves nothing of the upload (the next open cleans it).
- `/health` reads a snapshot of the memory's counts taken after each write, never the live graph.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from agent.server.config import ServerConfig
from agent.server.errors import APIError, bad_request, too_large
from agent.server.protocol import FactIn, FactOut, FactsWriteResponse
from agent.server.rwlock import RWLock

if TYPE_CHECKING:
    from memory import AddResult, Memory
    from memory.facts import Fact

log = logging.getLogger("hopedit.serve.facts")

MAX_UPLOAD_NAME = 255  # the common file-system limit on one name
_KEPT_JOBS = 64  # finished jobs remembered for GET /v1/facts:load/{id}
# Records per Chroma call in a server write: Chroma holds the GIL for a whole call, and the event loop
# (questions, /health) waits that long.
_WRITE_CHUNK = 64
JobStatus = Literal["queued", "running", "done", "failed"]


class FactsLoadJob(BaseModel):
    """A fact-file upload being written in the background; poll `GET /v1/facts:load/{id}`."""

    id: str
    object: Literal["facts.load"] = "facts.load"
    status: JobStatus
    filename: str
    facts: int  # facts read from the file
    stage: str | None = None  # "storing" (embedding and staging), then "activating" (after the commit)
    done: int = 0
    total: int = 0
    created_at: float
    finished_at: float | None = None
    error: str | None = None
    result: FactsWriteResponse | None = None  # once done


@dataclass
class _Job:
    id: str
    filename: str
    facts: list[Fact]  # dropped once written
    count: int
    created_at: float = field(default_factory=time.time)
    status: JobStatus = "queued"
    stage: str | None = None
    done: int = 0
    total: int = 0
    finished_at: float | None = None
    error: str | None = None
    result: FactsWriteResponse | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def view(self) -> FactsLoadJob:
        return FactsLoadJob(
            id=self.id,
            status=self.status,
            filename=self.filename,
            facts=self.count,
            stage=self.stage,
            done=self.done,
            total=self.total,
            created_at=self.created_at,
            finished_at=self.finished_at,
            error=self.error,
            result=self.result,
        )


def fact_out(fact: Fact, score: float | None = None) -> FactOut:
    return FactOut(**{**fact.to_dict(), "score": score})


def write_response(result: AddResult) -> FactsWriteResponse:
    return FactsWriteResponse(
        added=[fact_out(f) for f in result.added],
        superseded=[fact_out(f) for f in result.superseded],
        unchanged=[fact_out(f) for f in result.unchanged],
    )


def check_upload_name(filename: str) -> str:
    """The upload's name is shown in errors and picks the parser; it must never be a path."""
    problem = None
    if not filename:
        problem = "is empty"
    elif len(filename) > MAX_UPLOAD_NAME:
        problem = f"is longer than {MAX_UPLOAD_NAME} characters"
    elif any(ord(char) < 32 or ord(char) == 127 for char in filename):
        problem = "contains a control character"
    elif "/" in filename or "\\" in filename:
        problem = "contains a path separator"
    elif filename.strip(".") == "":
        problem = "is only dots"
    if problem:
        raise bad_request(f"filename {problem}: give a plain file name like facts.jsonl", param="filename")
    return filename


class FactsServing:
    """Owns the server's memory: opens and locks it, serialises its writes, runs upload jobs."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._memory: Memory | None = None
        self.lock = RWLock()  # the graph: commits exclusive, reads (questions, searches) shared
        self._writer = threading.Lock()  # one write (stage + commit) at a time
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._jobs_lock = threading.Lock()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._stats: dict[str, Any] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (and, embedded, lock) the memory; a repair of what a crash left is logged."""
        from memory import Memory

        self._memory = Memory.open(
            self.config.store, chroma_url=self.config.chroma_url, holder="hopedit serve"
        )
        if self._memory.integrity.repaired:
            log.warning("%s", self._memory.integrity.summary())
        self._stats = self._memory.stats()
        # A daemon: a job still running at shutdown is abandoned, and its pending records are cleaned
        # on the next open, exactly as after a crash.
        self._worker = threading.Thread(target=self._run_jobs, name="hopedit-facts-load", daemon=True)
        self._worker.start()

    def close(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
        if self._memory is not None:
            self._memory.close()

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            raise APIError(503, "the memory is still opening", type="server_error", code="not_ready")
        return self._memory

    @property
    def is_open(self) -> bool:
        return self._memory is not None

    @contextlib.contextmanager
    def reading(self) -> Iterator[Memory]:
        """The memory, for as long as no commit may change it (questions, searches)."""
        memory = self.memory
        with self.lock.read():
            yield memory

    def stats(self) -> dict[str, Any]:
        """Counts as of the last write: free to read, so `/health` never waits on a write."""
        return dict(self._stats)

    # --- writes ---------------------------------------------------------------------------------

    def _check_fact_count(self, n: int) -> None:
        if n > self.config.max_facts_per_request:
            raise too_large(
                f"{n} facts in one request; this server takes at most {self.config.max_facts_per_request}",
                param="facts",
            )

    def _write(self, facts: list[Fact], job: _Job | None = None) -> AddResult:
        memory = self.memory

        def progress(stage: str, done: int, total: int) -> None:
            if job is not None:
                job.stage, job.done, job.total = stage, done, total

        with self._writer:
            pending = memory.stage(facts, progress, chunk=_WRITE_CHUNK)
            with self.lock.write():
                try:
                    result = memory.commit(pending, progress, chunk=_WRITE_CHUNK)
                finally:
                    self._stats = memory.stats()
        return result

    def add_facts(self, facts: list[FactIn]) -> FactsWriteResponse:
        """Validate all, then write; returns only once Chroma has persisted the write."""
        from memory.facts import Fact

        self._check_fact_count(len(facts))
        records = []
        for index, fact in enumerate(facts):
            try:
                records.append(Fact(**fact.model_dump(exclude_none=True), source="api"))
            except ValueError as error:
                raise bad_request(f"facts[{index}]: {error}", param=f"facts[{index}]") from error
        return write_response(self._write(records))

    def start_load(self, body: bytes, format: str | None, kind: str, filename: str) -> FactsLoadJob:
        """Parse and check the upload now (errors are the request's), then queue the write as a job."""
        from memory.loaders import FactFileError, LoadOptions, detect_format, read_facts

        name = check_upload_name(filename)
        with tempfile.TemporaryDirectory(prefix="hopedit-upload-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(body)
            unit = "line"
            try:
                unit = "record" if detect_format(path, format) == "mquake" else "line"
                facts = read_facts(path, format, LoadOptions(kind=kind))  # type: ignore[arg-type]
            except FactFileError as error:
                where = f"{name}, {unit} {error.line}" if error.line is not None else name
                raise bad_request(f"{where}: {error.message}", param="body", code="bad_fact_file") from error
            except (OSError, ValueError) as error:
                # Never str(error): it would name the server's temporary directory.
                raise bad_request(
                    f"{name}: cannot read the upload ({type(error).__name__})",
                    param="body",
                    code="bad_fact_file",
                ) from error
        self._check_fact_count(len(facts))
        job = _Job(id=f"load-{uuid.uuid4().hex[:16]}", filename=name, facts=facts, count=len(facts))
        with self._jobs_lock:
            self._jobs[job.id] = job
            finished = [key for key, kept in self._jobs.items() if kept.finished.is_set()]
            for key in finished[: max(0, len(self._jobs) - _KEPT_JOBS)]:
                del self._jobs[key]
        self._queue.put(job)
        return job.view()

    def load_status(self, job_id: str) -> FactsLoadJob:
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise APIError(404, f"no load job {job_id!r}", param="id", code="job_not_found")
        return job.view()

    def wait_for(self, job_id: str, timeout_s: float | None = None) -> FactsLoadJob:
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise APIError(404, f"no load job {job_id!r}", param="id", code="job_not_found")
        job.finished.wait(timeout_s)
        return job.view()

    def _run_jobs(self) -> None:
        while (job := self._queue.get()) is not None:
            job.status = "running"
            try:
                job.result = write_response(self._write(job.facts, job))
                job.status = "done"
            except Exception as error:  # the job's client reads this; the write left nothing behind
                log.exception("load job %s failed", job.id)
                job.error = f"{type(error).__name__}: {error}"
                job.status = "failed"
            finally:
                job.finished_at = time.time()
                job.facts = []
                job.finished.set()

    def remove_fact(self, fact_id: str) -> FactOut:
        with self._writer, self.lock.write():
            try:
                removed = fact_out(self.memory.remove(fact_id))
            except KeyError as error:
                raise APIError(
                    404, f"no fact with id {fact_id!r}", param="id", code="fact_not_found"
                ) from error
            finally:
                self._stats = self.memory.stats()
        return removed

    # --- reads ----------------------------------------------------------------------------------

    def search_facts(self, query: str | None, k: int) -> list[FactOut]:
        with self.reading() as memory:
            if query:
                return [fact_out(s.fact, s.score) for s in memory.search(query, k=k)]
            return [fact_out(f) for f in memory.facts(active_only=True)[:k]]

    def history(self, subject: str, relation: str) -> list[FactOut]:
        with self.reading() as memory:
            return [fact_out(f) for f in memory.history(subject, relation)]
