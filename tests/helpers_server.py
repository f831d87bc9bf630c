"""Start the real `hopedit serve` on a free loopback port as a subprocess, and talk to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

BASE_MODEL = "smollm2-135m-instruct"
STARTUP_TIMEOUT_S = 180.0  # a cold model cache plus a CPU shared with training


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command() -> list[str]:
    return [sys.executable, "-m", "agent.server"]


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    store: Path
    log: Path
    api_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"hopedit serve exited with {server.process.returncode}:\n{server.logs()[-4000:]}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"hopedit serve not ready after {STARTUP_TIMEOUT_S}s:\n{server.logs()[-4000:]}")


def start_server(
    store: Path, *args: str, api_key: str | None = None, log: Path | None = None
) -> RunningServer:
    port = free_port()
    log = log or store.with_name(f"{store.name}-serve-{port}.log")
    command = [*serve_command(), "--port", str(port), "--store", str(store), *args]
    if api_key:
        command += ["--api-key", api_key]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = RunningServer(process, port, store, log, api_key)
    try:
        _wait_ready(server)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: RunningServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@contextlib.contextmanager
def running_server(store: Path, *args: str, api_key: str | None = None) -> Iterator[RunningServer]:
    server = start_server(store, *args, api_key=api_key)
    try:
        yield server
    finally:
        stop(server)
