"""`speak`: text to speech with GLM-TTS (BigModel), saved as one WAV file and played in the client.

The API takes at most 1024 characters per request, so longer text is cut at sentence ends, each piece
spoken in order with progress, and the pieces' WAVs joined into one (they must share a format).
"""

from __future__ import annotations

import base64
import io
import re
import wave
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import AudioContent, CallToolResult, ContentBlock, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import app_state, count_usage, glm_client, media_link, progress, result, save_made, ticking
from ..errors import BadArguments, BadResponse
from ..glm import catalog
from ..glm.platform_models import SpeechRequest
from ..previews import MAX_PREVIEW_BYTES
from .spec import ToolSpec

SPEC = ToolSpec(
    name="speak",
    title="Speak text",
    annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    ),
    purpose="speak reads text aloud into a WAV file (billed per character)",
    summary="Turn text into speech with GLM-TTS, saved as a WAV file and played in the client.",
    platforms=("bigmodel",),
    settings=("output_dir", "inline_previews"),
)
MODEL = "glm-tts"
MAX_TEXT = 20_000  # characters per call: at most 20 requests, about 17 minutes of speech
# A sentence and the marks that end it (the full stop, exclamation and question marks, CJK or not).
SENTENCE = re.compile("(?s).*?(?:[\u3002\uff01\uff1f.!?]+|\n+|$)")
# Where a sentence too long for one request may be cut: a comma, semicolon, colon (CJK or not) or space.
BREAK = re.compile("[\uff0c,\u3001\uff1b;\uff1a:\\s]")
# A system voice's name or a cloned voice's id: letters, digits and _ . : - only.
VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_TTS = catalog.find(MODEL)
assert _TTS is not None and _TTS.max_prompt is not None and _TTS.speeds and _TTS.volumes
PER_REQUEST = _TTS.max_prompt  # characters per request
VOICES, SPEEDS, VOLUMES = _TTS.voices, _TTS.speeds, _TTS.volumes


class Spoken(BaseModel):
    path: str
    model: str
    characters: int
    requests: int  # pieces of at most 1024 characters
    duration_seconds: float


async def speak(
    ctx: Context[Any, Any],
    text: Annotated[str, Field(min_length=1, description=f"At most {MAX_TEXT} characters.")],
    voice: Annotated[
        str | None,
        Field(description=f"{VOICES[0]} (default), {', '.join(VOICES[1:])} or a cloned voice id."),
    ] = None,
    speed: Annotated[float | None, Field(ge=SPEEDS[0], le=SPEEDS[1])] = None,
    volume: Annotated[float | None, Field(gt=VOLUMES[0], le=VOLUMES[1])] = None,
) -> Annotated[CallToolResult, Spoken]:
    """Read text aloud (GLM-TTS) into one WAV file; long text is spoken in pieces."""
    if not text.strip():
        raise BadArguments("The text is blank: give the words to speak.")
    if len(text) > MAX_TEXT:
        raise BadArguments(
            f"The text has {len(text)} characters; speak takes at most {MAX_TEXT} per call: split it."
        )
    chosen_voice = voice or VOICES[0]
    if not VOICE.fullmatch(chosen_voice):
        raise BadArguments(
            f"voice {chosen_voice[:40]!r} is neither a system voice ({', '.join(VOICES)}) nor a "
            "voice id (letters, digits, _ . : - only)."
        )
    pieces = cut(text, PER_REQUEST)
    client = glm_client(ctx)
    report = progress(ctx)
    joiner = WavJoiner()
    sent = 0  # characters the API has spoken (and billed), counted even when a later piece fails
    try:
        for number, piece in enumerate(pieces, 1):
            label = f"speaking piece {number} of {len(pieces)}" if len(pieces) > 1 else "speaking"
            if len(pieces) > 1:
                await report(label)

            def waiting(seconds: float, label: str = label) -> str:
                return f"{label}: {seconds:.0f} s"

            request = SpeechRequest(model=MODEL, input=piece, voice=voice, speed=speed, volume=volume)
            async with ticking(ctx, waiting):
                answer = await client.speech(request)
            sent += len(piece)
            joiner.add(answer.audio)
    finally:
        if sent:
            count_usage(ctx, "speak", MODEL, sent, "characters")
    audio, seconds = await anyio.to_thread.run_sync(joiner.joined)
    if len(pieces) > 1:
        await report(f"spoke {len(pieces)} pieces")
    saved = await save_made(ctx, audio, kind="audio", ext=".wav", mime_type="audio/wav", label="speech")
    spoken = Spoken(
        path=str(saved.path),
        model=MODEL,
        characters=len(text),
        requests=len(pieces),
        duration_seconds=round(seconds, 2),
    )
    told = f"Spoke {len(text)} characters ({seconds:.1f} s, voice {chosen_voice}); saved to {saved.path}."
    blocks: list[ContentBlock] = []
    if not app_state(ctx).settings.inline_previews:
        told += " Inline audio is off (GLM_INLINE_PREVIEWS): open the link."
    elif len(audio) <= MAX_PREVIEW_BYTES:
        data = base64.b64encode(audio).decode("ascii")
        blocks.append(AudioContent(type="audio", data=data, mime_type="audio/wav"))
    else:
        over = f"{MAX_PREVIEW_BYTES // 1024} KiB"
        told += f" It is {len(audio)} bytes, over the {over} inline limit: open the link."
    return result(told, spoken, [*blocks, media_link(saved)])


def cut(text: str, limit: int) -> list[str]:
    """The text in pieces of at most `limit` characters, cut at sentence ends (SENTENCE) where it
    can, else at a comma or space, else anywhere; in order, blank pieces left out."""
    pieces: list[str] = []
    current = ""
    for found in SENTENCE.findall(text):
        sentence = found
        while len(sentence) > limit:
            breaks = [match.end() for match in BREAK.finditer(sentence, 0, limit)]
            at = breaks[-1] if breaks else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:at])
            sentence = sentence[at:]
        if len(current) + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


class WavJoiner:
    """The pieces' WAVs joined, checked one by one as they arrive (so a piece that cannot be joined stops
    the requests at once): `BadResponse` when a piece is not a WAV or its format differs from the first's.
    Only the samples are kept."""

    def __init__(self) -> None:
        self.shape: tuple[int, int, int] | None = None  # channels, bytes per sample, frame rate
        self.pcm: list[bytes] = []

    def add(self, data: bytes) -> None:
        number = len(self.pcm) + 1
        try:
            with wave.open(io.BytesIO(data), "rb") as source:
                shape = (source.getnchannels(), source.getsampwidth(), source.getframerate())
                frames = source.readframes(source.getnframes())
        except (wave.Error, EOFError) as exc:
            raise BadResponse(
                f"GLM-TTS answered piece {number} with no readable WAV ({exc})", status=200
            ) from None
        if self.shape is not None and shape != self.shape:
            raise BadResponse(
                f"GLM-TTS answered piece {number} as {_shape(shape)}, piece 1 as {_shape(self.shape)}: they "
                "cannot be joined; speak the text in shorter calls",
                status=200,
            )
        self.shape = shape
        self.pcm.append(frames)

    def joined(self) -> tuple[bytes, float]:
        """One WAV file of every piece in order, and its length in seconds."""
        assert self.shape is not None
        channels, width, rate = self.shape
        out = io.BytesIO()
        with wave.open(out, "wb") as sink:
            sink.setnchannels(channels)
            sink.setsampwidth(width)
            sink.setframerate(rate)
            for frames in self.pcm:
                sink.writeframes(frames)
        return out.getvalue(), sum(len(frames) for frames in self.pcm) / (channels * width * rate)


def join_wavs(answers: list[bytes]) -> tuple[bytes, float]:
    """One WAV file of the WAVs `answers` in order, and its length in seconds (see WavJoiner)."""
    joiner = WavJoiner()
    for data in answers:
        joiner.add(data)
    return joiner.joined()


def _shape(shape: tuple[int, int, int]) -> str:
    channels, width, rate = shape
    return f"{channels} channel(s) of {8 * width}-bit at {rate} Hz"
