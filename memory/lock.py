"""One process at a time per embedded store: a lock file holding the owner's pid and command.

Embedded Chroma keeps per-process caches of a store directory, so a second process writing the same directory
corrupts it (or leaves the first with a stale view) while both report success. The lock is an advisory
`flock` on `DIR/hopedit.lock`: the kernel drops it when its holder dies, however it dies, so a lock left
behind by a dead process is simply taken over. The pid and command written into the file are only there to
name the holder in the refusal. Sharing one memory between processes is what a Chroma server
(`--chroma-url`) is for.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "hopedit.lock"


class StoreInUseError(ValueError):
    """Another live process holds the store. A ValueError so every CLI reports it as bad input (exit 2)."""

    def __init__(self, store_dir: Path, pid: int | None, command: str) -> None:
        self.store_dir = store_dir
        self.pid = pid
        self.command = command
        holder = f"`{command}` (pid {pid})" if pid is not None else f"`{command}`"
        super().__init__(
            f"memory {store_dir} is in use by {holder}; use --chroma-url, or the server's facts API"
        )


def describe_command(argv: list[str] | None = None) -> str:
    """A short name for this process, as a user typed it: `hopedit serve`, `hopedit facts load`."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return "python"
    program = Path(argv[0]).name
    if program == "__main__.py" and Path(argv[0]).parent.name == "server":
        return "hopedit serve"  # `python -m agent.server`
    words = [program] + [word for word in argv[1:3] if not word.startswith("-")]
    return " ".join(words[: 3 if program == "hopedit" else 1])


@dataclass
class _Held:
    fd: int
    count: int


# Process-wide: a store opened twice in one process shares one lock (flock would refuse the second open).
_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


class StoreLock:
    """Holds the store's lock from `acquire()` until `release()` (or the process ends)."""

    def __init__(self, store_dir: Path, command: str | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.path = self.store_dir / LOCK_NAME
        self.command = command or describe_command()
        self._key = str(self.path.resolve())
        self._acquired = False

    def acquire(self) -> StoreLock:
        with _GUARD:
            held = _HELD.get(self._key)
            if held is not None:
                held.count += 1
                self._acquired = True
                return self
            self.store_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = read_owner(self.path)
                os.close(fd)
                command = owner.get("command", "another process")
                raise StoreInUseError(self.store_dir, owner.get("pid"), command) from None
            # Whatever an earlier (dead) holder wrote is replaced: that is the stale-lock takeover.
            record = json.dumps({"pid": os.getpid(), "command": self.command}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            _HELD[self._key] = _Held(fd, 1)
            self._acquired = True
            return self

    def release(self) -> None:
        with _GUARD:
            if not self._acquired:
                return
            self._acquired = False
            held = _HELD.get(self._key)
            if held is None:
                return
            held.count -= 1
            if held.count == 0:
                del _HELD[self._key]
                os.close(held.fd)  # closing the descriptor drops the flock

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def read_owner(path: Path) -> dict:
    """The pid and command a holder wrote; empty if the file is missing or half-written."""
    try:
        owner = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}
