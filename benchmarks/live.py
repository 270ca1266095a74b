"""Live streaming and render-job load of `talkrig serve`, measured from the client's side.

Starts the installed `talkrig serve` on a loopback port, uploads the bundled portrait, then:

1. Live: for each frame size (256, 512) and number of simultaneous clients (1, 4), every
   client connects to ``WS /api/live``, listens to the idle stream for 2 s, sends one text
   message and reads until 1.5 s after its utterance ended. Reported per run (median over
   clients): time from sending the text to the first media bytes of the utterance, and to the
   first frame of the utterance a player can show (the fragmented MP4's complete fragments are
   counted as they arrive); the speed the utterance's media arrived at against real time; and
   stalls: how long a player that starts 0.3 s after the first frame, and then plays in real
   time, would have waited for data (0 = the stream kept up).
2. Load: 50 render jobs (one sentence each, 256 px) from 10 concurrent clients, each client
   resubmitting on 503 after Retry-After; latency percentiles from submit to done, failed
   jobs, server errors, and the server process's peak memory (VmHWM).

The baseline named in the table is real time itself (speed 1.0x) and the goals of issue #20.

    python benchmarks/live.py [--sizes 256,512] [--clients 1,4] [--jobs 50] [--job-clients 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from talkrig.io.fmp4 import stream_samples  # noqa: E402

TEXT = "Hello there! I am talking to you live, straight from one photo."
START_BUFFER_S = 0.3  # what a player buffers before it starts (the page plays at once)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    exe = Path(sys.executable).parent / "talkrig"
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--data-dir", str(folder), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("talkrig serve did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def live_client(url: str, face_id: str, size: int) -> dict:
    """One live session: idle 2 s, one utterance, 1.5 s more. Times in seconds."""
    q = f"face_id={face_id}&size={size}&emotion=happy"
    data = b""
    async with websockets.connect(url.replace("http", "ws") + "/api/live?" + q, max_size=None) as ws:
        t_connect = time.monotonic()
        ready, fps = None, 25.0
        while ready is None or time.monotonic() - ready < 2.0:
            m = await ws.recv()
            if isinstance(m, str):
                ev = json.loads(m)
                if ev["event"] == "ready":
                    ready, fps = time.monotonic(), ev["fps"]
            else:
                data += m
        t_send = time.monotonic()
        await ws.send(json.dumps({"text": TEXT, "emotion": "happy"}))
        start_at = end_at = None
        first_bytes = first_frame = t_end = None
        arrivals = []  # (wall s since send, frames a player can show)
        while t_end is None or time.monotonic() - t_end < 1.5:
            m = await ws.recv()
            now = time.monotonic() - t_send
            if isinstance(m, str):
                ev = json.loads(m)
                if ev["event"] == "start":
                    start_at = ev["at"]
                elif ev["event"] == "end":
                    end_at, t_end = ev["at"], time.monotonic()
                continue
            data += m
            if start_at is None:
                continue
            if first_bytes is None:
                first_bytes = now
            shown = stream_samples(data).get(1, 0)
            arrivals.append((now, shown))
            if first_frame is None and shown > round(start_at * fps):
                first_frame = now
    # the utterance's frames: when each became showable, against a real-time player
    first_idx, last_idx = round(start_at * fps), round(end_at * fps)
    speech = [(w, n) for w, n in arrivals if n > first_idx]
    done = next(w for w, n in speech if n >= last_idx)
    speed = (end_at - start_at) / max(done - first_frame, 1e-6) if done > first_frame else float("inf")
    t0 = first_frame + START_BUFFER_S
    stall, need = 0.0, first_idx
    for w, n in speech:  # a frame needed at t0 + (k - first_idx)/fps that arrived later is a stall
        while need < min(n, last_idx):
            due = t0 + (need - first_idx) / fps + stall
            stall += max(w - due, 0.0)
            need += 1
    return {"ready_s": ready - t_connect, "first_bytes_s": first_bytes, "first_frame_s": first_frame,
            "speed": speed, "stall_s": stall, "utterance_s": end_at - start_at}


async def live_run(url: str, face_id: str, size: int, clients: int) -> list[dict]:
    return await asyncio.gather(*(live_client(url, face_id, size) for _ in range(clients)))


def load_run(url: str, face_id: str, jobs: int, clients: int) -> dict:
    latencies, failed, errors, retries = [], [], [], 0
    lock = threading.Lock()
    todo = list(range(jobs))

    def client():
        nonlocal retries
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                t0 = time.monotonic()
                while True:
                    r = http.post(url + "/api/render", data={"face_id": face_id, "size": "256",
                                                             "text": f"This is render job number {i}.",
                                                             "emotion": ("happy", "sad", "angry")[i % 3]})
                    if r.status_code == 503:
                        with lock:
                            retries += 1
                        time.sleep(float(r.headers.get("retry-after", 1)))
                        continue
                    break
                if r.status_code != 202:
                    with lock:
                        errors.append(f"{r.status_code} {r.text[:80]}")
                    continue
                jid = r.json()["id"]
                while True:
                    j = http.get(f"{url}/api/jobs/{jid}").json()
                    if j["state"] in ("done", "failed"):
                        break
                    time.sleep(0.25)
                v = http.get(f"{url}/api/jobs/{jid}/video") if j["state"] == "done" else None
                with lock:
                    if j["state"] == "failed" or v.status_code != 200 or v.content[4:8] != b"ftyp":
                        failed.append(j.get("error") or "bad video")
                    else:
                        latencies.append(time.monotonic() - t0)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [float("nan")] * 99
    return {"done": len(latencies), "failed": len(failed), "errors": len(errors), "retries": retries,
            "p50": q[49], "p90": q[89], "p99": q[98], "max": max(latencies, default=float("nan")),
            "wall": wall, "fail_examples": (failed + errors)[:3]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--job-clients", type=int, default=10)
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load before {load[0]:.2f}")
    with tempfile.TemporaryDirectory() as d:
        proc, url = start_server(Path(d), "--max-queue", "16", "--max-live", "8")
        try:
            photo = (REPO / "examples" / "astronaut.jpg").read_bytes()
            face_id = httpx.post(url + "/api/faces", files={"photo": ("p.jpg", photo)}, timeout=120).json()["face_id"]
            print("\nlive (median over clients; goals: first media <= 1.0 s at 256, <= 1.5 s at 512; "
                  "speed >= 1.0x real time and no stall at 256 for one client)")
            print("| size | clients | ready after connect | text -> first media bytes | text -> first speech frame "
                  "| speed vs real time | stall (worst client) |")
            print("|---|---|---|---|---|---|---|")
            for size in map(int, args.sizes.split(",")):
                for n in map(int, args.clients.split(",")):
                    time.sleep(2.0)  # the previous run's sessions close
                    res = asyncio.run(live_run(url, face_id, size, n))
                    med = lambda k: statistics.median(r[k] for r in res)  # noqa: E731
                    print(f"| {size} | {n} | {med('ready_s'):.2f} s | {med('first_bytes_s'):.2f} s | "
                          f"{med('first_frame_s'):.2f} s | {med('speed'):.2f}x | "
                          f"{max(r['stall_s'] for r in res):.2f} s |", flush=True)
            if args.jobs:
                r = load_run(url, face_id, args.jobs, args.job_clients)
                print(f"\nload: {args.jobs} render jobs (256 px, one sentence) from {args.job_clients} clients")
                print("| done | failed | server errors | 503 retries | p50 | p90 | p99 | max | wall | peak RSS |")
                print("|---|---|---|---|---|---|---|---|---|---|")
                print(f"| {r['done']} | {r['failed']} | {r['errors']} | {r['retries']} | {r['p50']:.1f} s | "
                      f"{r['p90']:.1f} s | {r['p99']:.1f} s | {r['max']:.1f} s | {r['wall']:.0f} s | "
                      f"{peak_rss_mb(proc.pid):.0f} MB |")
                if r["fail_examples"]:
                    print("failures:", r["fail_examples"])
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
