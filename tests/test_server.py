"""`talkrig serve` as users run it: the installed command on a loopback port, real HTTP
(httpx) and WebSocket (websockets) clients, every endpoint and every class of bad request."""

from __future__ import annotations

import asyncio
import io
import json

import av
import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
websockets = pytest.importorskip("websockets")

from PIL import Image  # noqa: E402

from conftest import REPO  # noqa: E402
from serve_util import running_server, wait_job  # noqa: E402

pytestmark = pytest.mark.slow
PHOTO = (REPO / "examples" / "astronaut.jpg").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve"), "--max-queue", "3", "--max-upload-mb", "2") as url:
        yield url


@pytest.fixture(scope="module")
def face_id(server):
    r = httpx.post(server + "/api/faces", files={"photo": ("me.jpg", PHOTO, "image/jpeg")}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["face_id"]


def _png(w: int, h: int, noise: bool = False) -> bytes:
    arr = (np.random.default_rng(0).integers(0, 255, (h, w, 3)) if noise
           else np.full((h, w, 3), 128)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _error(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and body["error"]
    return body["error"]


# -- pages and docs ---------------------------------------------------------------------------------
def test_health_page_and_openapi_docs(server):
    assert httpx.get(server + "/api/health").json()["ok"] is True
    page = httpx.get(server + "/")
    assert page.status_code == 200 and "<video" in page.text and "api/live" in page.text
    spec = httpx.get(server + "/openapi.json").json()
    assert {"/api/faces", "/api/render", "/api/jobs/{job_id}", "/api/jobs/{job_id}/video"} <= set(spec["paths"])
    assert httpx.get(server + "/docs").status_code == 200
    assert httpx.get(server + "/sample.jpg").content == PHOTO


# -- faces ----------------------------------------------------------------------------------------
def test_faces_are_content_addressed(server, face_id):
    r = httpx.post(server + "/api/faces", files={"photo": ("other-name.png", PHOTO, "image/png")}, timeout=60)
    assert r.json()["face_id"] == face_id  # same bytes, same face, whatever the name says


@pytest.mark.parametrize("name,data,status,words", [
    ("notes.jpg", b"this is not an image", 400, "not a readable image"),
    ("empty.jpg", b"", 400, "empty"),
    ("huge.png", _png(8000, 6000), 400, "megapixels"),
    ("big.png", _png(1100, 1100, noise=True), 413, "larger than"),
    ("grey.png", _png(300, 300), 422, "face"),
])
def test_bad_photos_are_refused_with_one_line(server, name, data, status, words):
    r = httpx.post(server + "/api/faces", files={"photo": (name, data, "image/png")}, timeout=60)
    assert words in _error(r, status)


def test_a_gif_is_refused_by_its_content(server):
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, format="GIF")
    r = httpx.post(server + "/api/faces", files={"photo": ("face.jpg", buf.getvalue(), "image/jpeg")})
    assert "not GIF" in _error(r, 400)


# -- render jobs ------------------------------------------------------------------------------------
def test_render_job_from_text_runs_to_a_playable_video(server, face_id):
    r = httpx.post(server + "/api/render", data={"face_id": face_id, "text": "Hello from the server.",
                                                 "emotion": "happy", "intensity": "0.8", "size": "256"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    early = httpx.get(f"{server}/api/jobs/{job_id}/video")
    if early.status_code != 200:  # still queued or running: not a video yet
        assert "job is" in _error(early, 409)
    job = wait_job(server, job_id)
    assert job["state"] == "done" and job["progress"] == 1.0 and job["error"] is None
    video = httpx.get(f"{server}/api/jobs/{job_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as c:
        assert c.streams.video[0].width == 256 and len(c.streams.audio) == 1
        assert sum(1 for _ in c.decode(video=0)) > 25


def test_render_job_from_a_photo_and_speech_audio(server, shared):
    wav = shared("dev", "audio", "pocketsphinx_goforward.wav").read_bytes()
    r = httpx.post(server + "/api/render", data={"emotion": "sad", "size": "256"},
                   files={"photo": ("p.jpg", PHOTO, "image/jpeg"), "audio": ("speech.wav", wav, "audio/wav")},
                   timeout=120)
    assert r.status_code == 202, r.text
    job = wait_job(server, r.json()["id"])
    assert job["state"] == "done", job
    with av.open(io.BytesIO(httpx.get(f"{server}/api/jobs/{job['id']}/video").content)) as c:
        assert abs(float(c.duration / 1e6) - 2.79) < 0.3


@pytest.mark.parametrize("data,files,status,words", [
    ({"face_id": "FACE", "text": "hi"}, {"photo": PHOTO}, 400, "exactly one of face_id or photo"),
    ({"face_id": "FACE"}, None, 400, "exactly one of text or audio"),
    ({"face_id": "0" * 24, "text": "hi"}, None, 404, "unknown face_id"),
    ({"face_id": "../../etc/passwd", "text": "hi"}, None, 404, "unknown face_id"),
    ({"face_id": "FACE", "text": "hi", "emotion": "bored"}, None, 400, "emotion"),
    ({"face_id": "FACE", "text": "hi", "size": "300"}, None, 400, "size"),
    ({"face_id": "FACE", "text": "hi", "pose": "wild"}, None, 400, "pose"),
    ({"face_id": "FACE", "text": "x" * 2001}, None, 400, "limit is 2000"),
    ({"face_id": "FACE", "text": "   "}, None, 400, "empty"),
    ({"face_id": "FACE", "text": "hi", "intensity": "loud"}, None, 422, "intensity"),
    ({"face_id": "FACE", "text": "hi", "intensity": "7"}, None, 422, "intensity"),
    ({"face_id": "FACE"}, {"audio": b"not audio at all"}, 400, "audio"),
])
def test_bad_render_requests_are_refused_and_leave_nothing_behind(server, face_id, tmp_path, data, files,
                                                                  status, words):
    data = {k: (face_id if v == "FACE" else v) for k, v in data.items()}
    files = {k: (k, v) for k, v in (files or {}).items()}
    r = httpx.post(server + "/api/render", data=data, files=files or None, timeout=60)
    assert words in _error(r, status)
    assert httpx.get(server + "/api/health").status_code == 200  # and the server goes on


def test_unknown_jobs_are_404(server):
    assert "unknown job" in _error(httpx.get(server + "/api/jobs/nope"), 404)
    assert "unknown job" in _error(httpx.get(server + "/api/jobs/nope/video"), 404)


def test_a_full_queue_answers_503_with_retry_after(server, face_id):
    answers = [httpx.post(server + "/api/render", data={"face_id": face_id, "text": f"Number {i}.", "size": "256"})
               for i in range(6)]
    codes = [a.status_code for a in answers]
    assert 202 in codes and 503 in codes, codes
    full = next(a for a in answers if a.status_code == 503)
    assert int(full.headers["retry-after"]) > 0 and "queue is full" in full.json()["error"]
    for a in answers:
        if a.status_code == 202:
            assert wait_job(server, a.json()["id"])["state"] == "done"


def test_no_job_folder_outlives_a_refused_request(server, face_id, tmp_path):
    data_dir = next(p for p in (tmp_path.parent.parent).rglob("jobs") if p.is_dir())
    before = {p.name for p in data_dir.iterdir()}
    r = httpx.post(server + "/api/render", data={"face_id": face_id},
                   files={"audio": ("a.wav", b"RIFF....WAVEjunk", "audio/wav")})
    assert r.status_code == 400
    assert {p.name for p in data_dir.iterdir()} <= before


# -- live ---------------------------------------------------------------------------------------------
async def _live(url: str, face_id: str, messages: list, ends: int, errors: int = 0,
                seconds_after: float = 1.0, **query):
    """Connect, wait for the first media, send ``messages`` (str or dict), read until ``ends``
    utterances have ended and ``errors`` errors arrived, plus ``seconds_after``; returns
    (events, bytes)."""
    q = "&".join(f"{k}={v}" for k, v in {"face_id": face_id, "size": 256, **query}.items())
    events, data = [], b""
    async with websockets.connect(url.replace("http", "ws") + "/api/live?" + q, max_size=None) as ws:
        async def read_until(pred, timeout=90):
            nonlocal data
            async with asyncio.timeout(timeout):
                while not pred():
                    m = await ws.recv()
                    if isinstance(m, bytes):
                        data += m
                    else:
                        events.append(json.loads(m))
        await read_until(lambda: data and events)
        for m in messages:
            await ws.send(m if isinstance(m, str) else json.dumps(m))
        await read_until(lambda: sum(e["event"] == "end" for e in events) >= ends
                         and sum(e["event"] == "error" for e in events) >= errors)
        loop = asyncio.get_running_loop()
        stop = loop.time() + seconds_after
        await read_until(lambda: loop.time() > stop)
    return events, data


def test_live_stream_is_one_fragmented_mp4_with_speech_and_idle(server, face_id):
    events, data = asyncio.run(_live(server, face_id, [{"text": "Hi there. Nice to meet you!", "emotion": "happy"}],
                                 ends=1))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "ready" and "avc1." in events[0]["mime"] and "start" in kinds and "end" in kinds
    start = next(e for e in events if e["event"] == "start")
    end = next(e for e in events if e["event"] == "end")
    assert end["at"] - start["at"] > 1.0  # the utterance's media time
    assert data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(io.BytesIO(data)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert len(frames) / 25 >= end["at"]  # idle before and after the speech
    sr = 16000
    speech = audio[int(start["at"] * sr):int(end["at"] * sr)]
    idle = audio[int((end["at"] + 0.2) * sr):]
    assert np.abs(speech).max() > 0.05 and (len(idle) == 0 or np.abs(idle).max() < 0.01)


def test_live_bad_messages_get_error_events_and_the_session_goes_on(server, face_id):
    events, _ = asyncio.run(_live(server, face_id, ["not json", {"text": ""}, {"text": "hi", "emotion": "bored"},
                                                    {"text": "Still here."}], ends=1, errors=3))
    errors = [e["message"] for e in events if e["event"] == "error"]
    assert len(errors) == 3 and any("JSON" in m for m in errors) and any("bored" in m for m in errors)
    assert [e["event"] for e in events].count("end") == 1


@pytest.mark.parametrize("query,code", [({"face_id": "0" * 24}, 4404), ({"size": 1024}, 4400),
                                        ({"emotion": "bored"}, 4400)])
def test_live_refuses_bad_sessions_with_a_close_code(server, face_id, query, code):
    async def go():
        q = "&".join(f"{k}={v}" for k, v in {"face_id": face_id, **query}.items())
        async with websockets.connect(server.replace("http", "ws") + "/api/live?" + q) as ws:
            event = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return event, closed.value.rcvd.code
    event, got = asyncio.run(go())
    assert event["event"] == "error" and got == code


# -- auth ---------------------------------------------------------------------------------------------
def test_token_guards_the_api_but_not_the_page(tmp_path):
    with running_server(tmp_path, "--token", "s3cret") as url:
        assert httpx.get(url + "/").status_code == 200
        assert "token" in _error(httpx.post(url + "/api/faces", files={"photo": ("p.jpg", PHOTO)}), 401)
        assert "token" in _error(httpx.get(url + "/api/jobs/x", headers={"Authorization": "Bearer nope"}), 401)
        r = httpx.get(url + "/api/jobs/x", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 404  # past the guard

        async def live(token):
            q = f"face_id={'0' * 24}" + (f"&token={token}" if token else "")
            async with websockets.connect(url.replace("http", "ws") + "/api/live?" + q) as ws:
                return json.loads(await ws.recv())["message"]
        assert "token" in asyncio.run(live(None))
        assert "unknown face_id" in asyncio.run(live("s3cret"))


def test_serve_refuses_an_address_in_use_with_one_line(tmp_path):
    import socket
    import subprocess

    from conftest import talkrig_exe

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([talkrig_exe(), "serve", "--port", str(port), "--data-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "address already in use" in lines[0] and "Traceback" not in r.stderr
