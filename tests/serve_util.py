"""Run the installed `talkrig serve` on a loopback port for tests (a real uvicorn server)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time

import httpx

from conftest import talkrig_exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(data_dir, *args: str, timeout: float = 60.0):
    """Yield the base URL of a `talkrig serve` subprocess; stop it (SIGTERM) afterwards."""
    port = free_port()
    log = open(os.path.join(str(data_dir), "server.log"), "w")
    proc = subprocess.Popen([talkrig_exe(), "serve", "--port", str(port), "--data-dir", str(data_dir), *args],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"talkrig serve exited with {proc.returncode}: "
                                   + open(log.name).read()[-2000:])
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("talkrig serve did not answer in time: " + open(log.name).read()[-2000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_job(url: str, job_id: str, timeout: float = 300.0, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/api/jobs/{job_id}", headers=headers or {}, timeout=10).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} did not finish in {timeout} s")
