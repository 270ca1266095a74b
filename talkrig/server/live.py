"""``WS /api/live``: one fragmented MP4 stream per connection, paced to real time.

A producer thread owns the session's :class:`~talkrig.synth.stream.LiveTalker` and
:class:`~talkrig.io.fmp4.FragmentedMP4`: while nothing is said it renders the idle loop just
ahead of the wall clock (:data:`LEAD_S`), and a text message is spoken from the end of what
was already sent, clause by clause, so the first clause's media leaves while later ones are
still being synthesised. The event loop only moves messages: binary frames are pieces of the
one MP4 stream (init segment first), text frames are JSON events between them.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time

from talkrig import api
from talkrig.errors import InputError, TalkrigError
from talkrig.server.services import check_text_limit

#: How far idle media runs ahead of the wall clock (s): enough to ride out a scheduling hiccup,
#: little enough that speech starts soon after its text arrives.
LEAD_S = 0.3
#: Idle media rendered per step (s).
IDLE_STEP_S = 0.2


class LiveSession:
    """The producer side of one live connection (runs in its own thread)."""

    def __init__(self, recon, size: int, emotion: str, intensity: float, send, max_text: int,
                 idle_frames=None, face_key: str = ""):
        self.talker = api.live_talker(recon, size=size, emotion=emotion, intensity=intensity,
                                      idle_frames=idle_frames, face_key=face_key)
        self.talker.warm()
        self.encoder = api.live_encoder(self.talker.fps, size)
        self.send = send  # send(bytes | dict): blocks until the event loop has sent it
        self.inbox: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        self.max_text = max_text
        self._t0: float | None = None
        self._utterance = 0

    # -- the thread -----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._start()
            while not self.closed.is_set():
                ahead = self.talker.media_time - self._elapsed()
                try:
                    msg = self.inbox.get(timeout=max(ahead - LEAD_S, 0.0)) if ahead > LEAD_S else self.inbox.get_nowait()
                except queue.Empty:
                    msg = None
                if msg is not None:
                    self._speak(msg)
                elif self.talker.media_time - self._elapsed() <= LEAD_S:
                    self._media(self.talker.idle(IDLE_STEP_S))
        except _Closed:
            pass
        finally:
            self.closed.set()

    def _elapsed(self) -> float:
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    def _start(self) -> None:
        data = b""
        for chunk in self.talker.idle(IDLE_STEP_S):
            data += self.encoder.write(chunk.frames, chunk.audio)
        codecs = api.mse_codecs(data)
        self._emit({"event": "ready", "mime": f'video/mp4; codecs="{codecs}"', "size": self.talker.size,
                    "fps": self.talker.fps})
        self._emit(data)
        self._t0 = time.monotonic() - self.talker.media_time + LEAD_S

    def _speak(self, msg: dict) -> None:
        try:
            text, emotion, intensity = self._check(msg)
        except TalkrigError as exc:
            self._emit({"event": "error", "message": str(exc)})
            return
        self._utterance += 1
        uid = self._utterance
        self._emit({"event": "start", "id": uid, "text": text, "at": round(self.talker.media_time, 3)})
        buffer = api.clause_buffer()
        clauses = buffer.feed(text) + buffer.flush()
        for i, clause in enumerate(clauses):
            self._media(self.talker.say(clause, emotion=emotion if i == 0 else None,
                                        intensity=intensity if i == 0 else None), keyframe=i == 0)
        end = self.talker.media_time
        # the first idle frames at once, on a keyframe: the speech's last fragment leaves now
        # rather than when the wall clock has caught up with the media
        self._media(self.talker.idle(IDLE_STEP_S), keyframe=True)
        self._emit({"event": "end", "id": uid, "at": round(end, 3)})

    def _check(self, msg: dict) -> tuple[str, str | None, float | None]:
        if not isinstance(msg, dict):
            raise InputError('send JSON objects like {"text": "Hello!", "emotion": "happy"}')
        text = check_text_limit(str(msg.get("text") or ""), self.max_text)
        emotion = msg.get("emotion")
        intensity = msg.get("intensity")
        try:
            intensity = None if intensity is None else float(intensity)
        except (TypeError, ValueError) as exc:
            raise InputError(f"intensity must be a number, got {intensity!r}") from exc
        if emotion is not None or intensity is not None:
            api.check_emotion(str(emotion or self.talker.emotion),
                              self.talker.intensity if intensity is None else intensity, schedule=False)
        return text, (None if emotion is None else str(emotion)), intensity

    def _media(self, chunks, keyframe: bool = False) -> None:
        for i, chunk in enumerate(chunks):
            if self.closed.is_set():
                raise _Closed
            data = self.encoder.write(chunk.frames, chunk.audio, keyframe=keyframe and i == 0)
            if data:
                self._emit(data)

    def _emit(self, item) -> None:
        if self.closed.is_set() or not self.send(item):
            raise _Closed


class _Closed(Exception):
    """The client went away."""


async def serve_live(ws, recon, size: int, emotion: str, intensity: float, max_text: int,
                     idle_frames=None, face_key: str = "") -> None:
    """Run one live session on an accepted WebSocket until either side closes."""
    loop = asyncio.get_running_loop()

    def send(item) -> bool:
        coro = ws.send_bytes(item) if isinstance(item, bytes) else ws.send_text(json.dumps(item))
        try:
            asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)
            return True
        except Exception:  # noqa: BLE001 - a closed socket ends the session
            return False

    session = await loop.run_in_executor(
        None, lambda: LiveSession(recon, size, emotion, intensity, send, max_text, idle_frames, face_key))
    thread = threading.Thread(target=session.run, name="talkrig-live", daemon=True)
    thread.start()
    try:
        while not session.closed.is_set():
            try:
                message = await asyncio.wait_for(ws.receive(), timeout=0.5)
            except asyncio.TimeoutError:
                continue
            if message["type"] == "websocket.disconnect":
                break
            try:
                session.inbox.put(json.loads(message.get("text") or ""))
            except json.JSONDecodeError:
                await ws.send_text(json.dumps({"event": "error", "message": "messages must be JSON text"}))
    except Exception:  # noqa: BLE001 - a broken connection ends the session like a close
        pass
    finally:
        session.closed.set()
        await loop.run_in_executor(None, thread.join, 5)
