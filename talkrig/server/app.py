"""The FastAPI app of ``talkrig serve``: faces, render jobs, the live stream and the web page.

Every route gets the server's :class:`~talkrig.server.services.Services` by dependency
injection; every refused request is a 4xx JSON ``{"error": "<one line>"}`` and the server goes
on serving. Nothing a request sends becomes a path: faces are named by a hash of the photo,
jobs by a random id, and uploaded audio is written to a file name the server chooses.
"""

from __future__ import annotations

import asyncio
import hmac
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from talkrig import api
from talkrig.errors import InputError, NoFaceError, TalkrigError
from talkrig.server.live import serve_live
from talkrig.server.services import QueueFull, RenderRequest, Services, Settings, check_text_limit

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt")


class FaceOut(BaseModel):
    face_id: str


class JobCreated(BaseModel):
    id: str


class JobOut(BaseModel):
    id: str
    state: str
    progress: float
    error: str | None = None


class ErrorOut(BaseModel):
    error: str


def services(request: Request) -> Services:
    return request.app.state.services


def _authorised(settings: Settings, header: str | None, query: str | None = None) -> bool:
    if not settings.token:
        return True
    given = query or ""
    if header and header.lower().startswith("bearer "):
        given = header[7:].strip()
    return hmac.compare_digest(given.encode(), settings.token.encode())


def require_token(request: Request, svc: Annotated[Services, Depends(services)]) -> None:
    if not _authorised(svc.settings, request.headers.get("authorization")):
        raise HTTPException(401, "missing or wrong bearer token")


Svc = Annotated[Services, Depends(services)]
ERRORS = {400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 404: {"model": ErrorOut},
          413: {"model": ErrorOut}, 422: {"model": ErrorOut}}


async def _read_upload(upload: UploadFile, limit_mb: float, what: str) -> bytes:
    limit = int(limit_mb * 1024 * 1024)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the {what} is larger than {limit_mb:g} MB")
    return data


def _user_error(exc: Exception) -> HTTPException:
    if isinstance(exc, NoFaceError):
        return HTTPException(422, str(exc) or "no face found in the photo")
    return HTTPException(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app with its own :class:`Services` (nothing shared between apps)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = Services(settings)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(title="talkrig", version=_version(), lifespan=lifespan,
                  description="Emotional talking heads from one photo: render jobs and a live stream.")
    _errors(app)
    auth = [Depends(require_token)]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html").decode(), headers={"Cache-Control": "no-cache"})

    @app.get("/sample.jpg", include_in_schema=False)
    def sample() -> Response:
        return Response(_static("astronaut.jpg"), media_type="image/jpeg")

    @app.get("/api/health")
    def health() -> dict:
        return {"ok": True, "version": _version(), "emotions": list(EMOTIONS),
                "auth": bool(settings.token)}

    @app.post("/api/faces", response_model=FaceOut, dependencies=auth, responses=ERRORS)
    async def add_face(svc: Svc, photo: Annotated[UploadFile, File(description="JPEG/PNG/WebP/BMP portrait")]) -> FaceOut:
        data = await _read_upload(photo, svc.settings.max_upload_mb, "photo")
        try:
            face_id = await asyncio.to_thread(svc.faces.add, data, svc.settings.max_pixels)
        except TalkrigError as exc:
            raise _user_error(exc) from None
        return FaceOut(face_id=face_id)

    @app.post("/api/render", status_code=202, response_model=JobCreated, dependencies=auth,
              responses={**ERRORS, 503: {"model": ErrorOut}})
    async def render(svc: Svc, face_id: Annotated[str | None, Form()] = None,
                     photo: Annotated[UploadFile | None, File()] = None,
                     text: Annotated[str | None, Form()] = None,
                     audio: Annotated[UploadFile | None, File()] = None,
                     emotion: Annotated[str, Form()] = "neutral",
                     intensity: Annotated[float, Form(ge=0.0, le=1.5)] = 1.0,
                     size: Annotated[int, Form()] = 512,
                     pose: Annotated[str, Form()] = "natural") -> JobCreated:
        s = svc.settings
        if (face_id is None) == (photo is None):
            raise HTTPException(400, "give exactly one of face_id or photo")
        if (text is None) == (audio is None):
            raise HTTPException(400, "give exactly one of text or audio")
        try:
            if text is not None:
                text = check_text_limit(text, s.max_text)
            api.check_emotion(emotion, intensity)
            api.check_pose(pose)
            if size not in api.SIZES:
                raise InputError(f"size must be one of {', '.join(map(str, api.SIZES))}")
            if photo is not None:
                data = await _read_upload(photo, s.max_upload_mb, "photo")
                face_id = await asyncio.to_thread(svc.faces.add, data, s.max_pixels)
            else:
                await asyncio.to_thread(svc.faces.get, face_id)
        except KeyError:
            raise HTTPException(404, "unknown face_id (upload the photo to /api/faces)") from None
        except TalkrigError as exc:
            raise _user_error(exc) from None
        job_id = svc.jobs.new_id()
        audio_path = None
        if audio is not None:
            data = await _read_upload(audio, s.max_upload_mb, "audio")
            folder = svc.jobs.job_folder(job_id)
            folder.mkdir(parents=True, exist_ok=True)
            audio_path = folder / "speech.audio"
            audio_path.write_bytes(data)
            try:
                await asyncio.to_thread(api.check_audio, audio_path)
            except TalkrigError as exc:
                svc.jobs.discard(job_id)
                raise _user_error(exc) from None
        try:
            svc.jobs.submit(job_id, RenderRequest(face_id, text, audio_path, emotion, intensity, size, pose))
        except QueueFull:
            svc.jobs.discard(job_id)
            raise HTTPException(503, "the render queue is full; try again shortly",
                                headers={"Retry-After": "5"}) from None
        return JobCreated(id=job_id)

    @app.get("/api/jobs/{job_id}", response_model=JobOut, dependencies=auth, responses=ERRORS)
    def job(job_id: str, svc: Svc) -> JobOut:
        return JobOut(**_job(svc, job_id).public())

    @app.get("/api/jobs/{job_id}/video", dependencies=auth, responses=ERRORS,
             response_class=FileResponse)
    def job_video(job_id: str, svc: Svc) -> FileResponse:
        j = _job(svc, job_id)
        if j.state != "done" or j.video is None or not j.video.exists():
            raise HTTPException(409 if j.state in ("queued", "running") else 404,
                                f"the job is {j.state}" if j.state != "done" else "the video is gone")
        return FileResponse(j.video, media_type="video/mp4", filename=f"talkrig-{job_id[:8]}.mp4")

    @app.websocket("/api/live")
    async def live(ws: WebSocket, face_id: str = "", size: int = 256, emotion: str = "neutral",
                   intensity: float = 1.0, token: str | None = None) -> None:
        svc: Services = ws.app.state.services
        await ws.accept()
        error = None
        if not _authorised(svc.settings, ws.headers.get("authorization"), token):
            error, code = "missing or wrong bearer token", 4401
        elif size not in svc.settings.live_sizes:
            error, code = f"size must be one of {', '.join(map(str, svc.settings.live_sizes))}", 4400
        else:
            try:
                api.check_emotion(emotion, intensity, schedule=False)
                recon = await asyncio.to_thread(svc.faces.get, face_id)
            except KeyError:
                error, code = "unknown face_id (upload the photo to /api/faces)", 4404
            except TalkrigError as exc:
                error, code = str(exc), 4400
        if error is None and not svc.take_live_slot():
            error, code = f"all {svc.settings.max_live} live sessions are in use; try again shortly", 4429
        if error is not None:
            await ws.send_json({"event": "error", "message": error})
            await ws.close(code=code)
            return
        try:
            await serve_live(ws, recon, size, emotion, intensity, svc.settings.max_text,
                             svc.idle_frames, face_id)
        finally:
            svc.release_live_slot()
            try:
                await ws.close()
            except Exception:  # noqa: BLE001 - already closed by the client
                pass

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run :func:`create_app` on uvicorn until SIGINT/SIGTERM (what `talkrig serve` does)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False, ws="auto")


def _job(svc: Services, job_id: str):
    try:
        return svc.jobs.get(job_id)
    except KeyError:
        raise HTTPException(404, "unknown job id") from None


def _errors(app: FastAPI) -> None:
    """One shape for every refusal: ``{"error": "<one line>"}``."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)


def _static(name: str) -> bytes:
    return resources.files("talkrig.server").joinpath("static", name).read_bytes()


def _version() -> str:
    import talkrig

    return talkrig.__version__
