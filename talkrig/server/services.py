"""What the server holds: its settings, the faces it has reconstructed and the render jobs.

Everything is owned by one :class:`Services` object made per app (no module-level state), and
handed to the routes by FastAPI's dependency injection. Only ``talkrig.api`` and
``talkrig.errors`` are used below this line: the server is a front end like the CLI.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from talkrig import api
from talkrig.errors import InputError, TalkrigError


@dataclass
class Settings:
    """Limits and places of one server (``talkrig serve --help`` names them)."""

    token: str | None = None           # bearer token required on /api/* when set
    data_dir: Path | None = None       # faces and job outputs (default: <cache>/serve)
    max_upload_mb: float = 20.0        # photo or audio upload
    max_pixels: int = 40_000_000       # photo pixels (checked before decoding)
    max_text: int = 2000               # characters of one text
    max_faces: int = 64                # faces kept on disk (least recently used go first)
    workers: int = 1                   # render jobs run at once
    max_queue: int = 32                # jobs queued or running before 503 + Retry-After
    max_jobs: int = 256                # finished jobs remembered (their videos deleted after)
    max_live: int = 4                  # live sessions at once
    live_sizes: tuple = (256, 512)     # frame sizes a live session may ask for

    def folder(self) -> Path:
        d = Path(self.data_dir) if self.data_dir else api.cache_dir() / "serve"
        d.mkdir(parents=True, exist_ok=True)
        return d


class FaceStore:
    """Reconstructed faces, content-addressed: ``face_id`` is a hash of the photo's bytes, so
    uploading the same photo again costs nothing. Kept as ``.npz`` on disk (bounded, least
    recently used removed first) and the most recent few in memory."""

    def __init__(self, folder: Path, max_faces: int, in_memory: int = 8):
        self.folder = folder / "faces"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_faces = max_faces
        self._memory: OrderedDict[str, object] = OrderedDict()
        self._in_memory = in_memory
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}

    @staticmethod
    def face_id(photo: bytes) -> str:
        return hashlib.sha256(photo).hexdigest()[:24]

    def _path(self, face_id: str) -> Path:
        if not (len(face_id) == 24 and all(c in "0123456789abcdef" for c in face_id)):
            raise KeyError(face_id)  # never a path from a request
        return self.folder / f"{face_id}.npz"

    def add(self, photo: bytes, max_pixels: int) -> str:
        """Reconstruct ``photo`` (unless known) and return its id."""
        fid = self.face_id(photo)
        with self._lock:
            lock = self._busy.setdefault(fid, threading.Lock())
        with lock:  # two uploads of one photo reconstruct it once
            if not self._path(fid).exists():
                image = api.photo_from_bytes(photo, max_pixels)
                rec = api.reconstruct(image)
                rec.save(self._path(fid))  # atomic
                self._remember(fid, rec)
            self._path(fid).touch()
        self._evict()
        return fid

    def get(self, face_id: str):
        """The :class:`Reconstruction` of ``face_id``; ``KeyError`` when unknown."""
        path = self._path(face_id)
        with self._lock:
            if face_id in self._memory:
                self._memory.move_to_end(face_id)
                return self._memory[face_id]
        if not path.exists():
            raise KeyError(face_id)
        rec = api.load_reconstruction(path)
        path.touch()
        self._remember(face_id, rec)
        return rec

    def _remember(self, fid: str, rec) -> None:
        with self._lock:
            self._memory[fid] = rec
            self._memory.move_to_end(fid)
            while len(self._memory) > self._in_memory:
                self._memory.popitem(last=False)

    def _evict(self) -> None:
        files = sorted((p for p in self.folder.glob("*.npz") if len(p.stem) == 24),
                       key=lambda p: p.stat().st_mtime)
        for p in files[:max(len(files) - self.max_faces, 0)]:
            p.unlink(missing_ok=True)
            with self._lock:
                self._memory.pop(p.stem, None)


@dataclass
class Job:
    """A render job as the API reports it."""

    id: str
    state: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    error: str | None = None
    created: float = field(default_factory=time.time)
    video: Path | None = None

    def public(self) -> dict:
        return {"id": self.id, "state": self.state, "progress": round(self.progress, 3), "error": self.error}


@dataclass
class RenderRequest:
    """A checked render request (what ``POST /api/render`` turns its form into)."""

    face_id: str
    text: str | None
    audio: Path | None  # a file the server wrote itself into the job's folder
    emotion: str
    intensity: float
    size: int
    pose: str


class QueueFull(Exception):
    """More jobs than ``max_queue`` are waiting."""


class JobQueue:
    """Render jobs in a bounded worker pool (threads: torch and MediaPipe already hold threads
    in this process, so nothing is forked). Each job has its own folder; a failed job's folder
    is removed, a finished one's video is kept until ``max_jobs`` newer jobs have finished."""

    def __init__(self, folder: Path, faces: FaceStore, workers: int, max_queue: int, max_jobs: int):
        self.folder = folder / "jobs"
        shutil.rmtree(self.folder, ignore_errors=True)  # jobs do not outlive their server
        self.folder.mkdir(parents=True)
        self.faces = faces
        self.max_queue, self.max_jobs = max_queue, max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(int(workers), 1), thread_name_prefix="talkrig-job")

    def job_folder(self, job_id: str) -> Path:
        return self.folder / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def submit(self, job_id: str, request: RenderRequest) -> Job:
        with self._lock:
            waiting = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if waiting >= self.max_queue:
                raise QueueFull
            job = self._jobs[job_id] = Job(job_id)
        self._pool.submit(self._run, job, request)
        self._forget_old()
        return job

    def discard(self, job_id: str) -> None:
        """Remove the folder of a job that was refused before it was queued."""
        shutil.rmtree(self.job_folder(job_id), ignore_errors=True)

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def _run(self, job: Job, req: RenderRequest) -> None:
        job.state = "running"
        out = self.job_folder(job.id) / "talkrig.mp4"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            rec = self.faces.get(req.face_id)
            job.progress = 0.05
            anim = api.animate(text=req.text, audio=req.audio, emotion=req.emotion,
                               intensity=req.intensity, pose=req.pose)
            job.progress = 0.15
            api.render_video(rec, anim, out, size=req.size,
                             progress=lambda done, total: setattr(job, "progress", 0.15 + 0.85 * done / total))
            job.video, job.progress, job.state = out, 1.0, "done"
        except (TalkrigError, KeyError) as exc:
            self._fail(job, str(exc) if not isinstance(exc, KeyError) else "the face is no longer known")
        except Exception as exc:  # noqa: BLE001 - a job's failure must never take the server down
            self._fail(job, f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            if req.audio is not None:
                req.audio.unlink(missing_ok=True)

    def _fail(self, job: Job, message: str) -> None:
        job.state, job.error = "failed", message
        shutil.rmtree(self.job_folder(job.id), ignore_errors=True)

    def _forget_old(self) -> None:
        with self._lock:
            done = [j for j in self._jobs.values() if j.state in ("done", "failed")]
            for j in done[:max(len(done) - self.max_jobs, 0)]:
                self._jobs.pop(j.id, None)
                shutil.rmtree(self.job_folder(j.id), ignore_errors=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Services:
    """Everything one server owns; made by :func:`talkrig.server.app.create_app`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        folder = settings.folder()
        self.faces = FaceStore(folder, settings.max_faces)
        self.jobs = JobQueue(folder, self.faces, settings.workers, settings.max_queue, settings.max_jobs)
        self.idle_frames = api.idle_frame_store(loops=4)  # shared by the live sessions
        self.live_count = 0
        self.live_lock = threading.Lock()

    def take_live_slot(self) -> bool:
        with self.live_lock:
            if self.live_count >= self.settings.max_live:
                return False
            self.live_count += 1
            return True

    def release_live_slot(self) -> None:
        with self.live_lock:
            self.live_count -= 1

    def close(self) -> None:
        self.jobs.close()


def check_text_limit(text: str, max_text: int) -> str:
    """``text`` stripped, or a one-line :class:`InputError` (empty, too long, unspeakable)."""
    text = (text or "").strip()
    if not text:
        raise InputError("text is empty")
    if len(text) > max_text:
        raise InputError(f"text is {len(text)} characters; the limit is {max_text}")
    api.check_text(text)
    return text
