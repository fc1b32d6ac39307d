"""`transcribe`: speech to text with GLM-ASR, for audio of any length the configured cap allows.

The API takes at most 30 s and 25 MB per request, so longer audio is cut into pieces (WAV directly,
MP3 through ffmpeg when installed), each read from disk as it is sent, transcribed in order with
progress, and joined.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from .. import audio_chunks
from ..audio_chunks import MAX_BYTES, MAX_SECONDS, Piece
from ..calls import app_state, count_usage, glm_client, result, ticking
from ..errors import AudioError, BadArguments
from ..files import Files, OpenInput
from ..glm import catalog
from ..glm.catalog import Platform
from ..glm.multipart import FilePart
from .spec import ToolSpec

SPEC = ToolSpec(
    name="transcribe",
    title="Transcribe speech",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    purpose="transcribe turns WAV or MP3 speech into text",
    summary="Turn speech (WAV or MP3, any length) into text with GLM-ASR.",
    settings=("asr_model", "max_audio_mb", "max_speech_seconds_per_day"),
    task_support=True,
    argument_texts={"model": "Default {asr_model}."},
)


class Transcript(BaseModel):
    text: str
    model: str
    request_ids: list[str]
    duration_seconds: float
    chunks: int = Field(description="Requests the audio was split into (30 s each at most).")
    note: str | None = None


async def transcribe(
    ctx: Context[Any, Any],
    file: Annotated[
        str, Field(min_length=1, description="WAV or MP3: a local path, file://, http(s) or data: URL.")
    ],
    model: Annotated[str | None, Field(description="Default glm-asr-2512.")] = None,
    prompt: Annotated[
        str | None, Field(max_length=8000, description="Earlier transcript, as context.")
    ] = None,
    hotwords: Annotated[
        list[str] | None, Field(max_length=100, description="Words to recognise reliably.")
    ] = None,
) -> Annotated[CallToolResult, Transcript]:
    """Turn speech in a WAV or MP3 file (a path, data: or http(s) URL) into text; long audio is cut into
    pieces and joined. Billed per second of audio."""
    settings = app_state(ctx).settings
    chosen = model or settings.asr_model
    _check_model(chosen, settings.platform)
    with ExitStack() as stack:
        async with app_state(ctx).files.open_input(file, "audio") as audio:
            pieces, extension = await anyio.to_thread.run_sync(_pieces, audio, stack, app_state(ctx).files)
            return await _transcribe_pieces(ctx, pieces, extension, chosen, prompt, hotwords or [])


async def _transcribe_pieces(
    ctx: Context[Any, Any],
    pieces: list[Piece],
    extension: str,
    model: str,
    prompt: str | None,
    hotwords: list[str],
) -> CallToolResult:
    client = glm_client(ctx)
    texts: list[str] = []
    request_ids: list[str] = []
    total = sum(piece.seconds for piece in pieces)
    done = 0.0
    for number, piece in enumerate(pieces, 1):
        if len(pieces) > 1:
            message = f"transcribing piece {number} of {len(pieces)}"
            await ctx.report_progress(done, total=total, message=message)
        upload = FilePart(
            f"audio-{number}.{extension}",
            "audio/wav" if extension == "wav" else "audio/mpeg",
            piece.length,
            piece.chunks,
        )

        def waiting(seconds: float, number: int = number) -> str:
            return f"transcribing piece {number} of {len(pieces)}: {seconds:.0f} s"

        async with ticking(ctx, waiting):
            answer = await client.transcribe(
                upload,
                model=model,
                prompt=_context(prompt, texts),
                hotwords=hotwords,
            )
        texts.append(answer.text.strip())
        request_ids.append(answer.request_id or answer.id or "")
        done += piece.seconds
    if len(pieces) > 1:
        await ctx.report_progress(total, total=total, message=f"transcribed {len(pieces)} pieces")
    count_usage(ctx, "transcribe", model, round(total), "seconds")
    text = " ".join(part for part in texts if part)
    transcript = Transcript(
        text=text, model=model, request_ids=request_ids, duration_seconds=round(total, 2), chunks=len(pieces)
    )
    if not text:
        transcript.note = (
            f"no speech was recognised in {total:.1f} s of audio: check that the file holds audible speech "
            "(not silence or music) and is the file meant."
        )
        return result(f"({transcript.note})", transcript)
    return result(text, transcript)


def _check_model(name: str, platform: Platform) -> None:
    """Refuse a catalogued model that cannot transcribe; unlisted names go to the API as they are."""
    known = catalog.find(name)
    if known is None or (known.kind == "asr" and not known.legacy):
        return
    use = catalog.default(platform, "asr")
    if known.kind != "asr":
        raise BadArguments(f"{name} is a {known.kind} model, not a speech-to-text one: use {use}")
    raise BadArguments(f"{name} is a legacy model name that neither platform documents any more: use {use}")


def _pieces(audio: OpenInput, stack: ExitStack, files: Files) -> tuple[list[Piece], str]:
    """Request-sized pieces of the audio, and the format they are in; a decoded MP3 is kept in a
    temporary file (`files.temporary_file`, in the data directory) that `stack` closes."""
    if audio.mime_type == "audio/wav":
        return audio_chunks.wav_pieces(audio.file, audio.size), "wav"
    seconds = audio_chunks.mp3_seconds(audio.file, audio.size)
    if seconds <= MAX_SECONDS and audio.size <= MAX_BYTES:
        return [Piece(audio.file, 0, audio.size, seconds)], "mp3"
    if not audio_chunks.ffmpeg_available():
        raise AudioError(
            f"{audio.source} is an MP3 of about {seconds:.0f} s; the API takes 30 s per request, and cutting "
            "an MP3 needs ffmpeg on PATH. Install ffmpeg, or convert the file to WAV."
        )
    decoded = stack.enter_context(files.temporary_file())
    size = audio_chunks.mp3_to_wav(audio.file, decoded)
    return audio_chunks.wav_pieces(decoded, size), "wav"


def _context(prompt: str | None, earlier: list[str]) -> str | None:
    """The prompt for the next piece: the caller's context, then the end of what was heard so far."""
    heard = " ".join(earlier)[-2000:]
    joined = " ".join(part for part in (prompt, heard) if part)
    return joined[-8000:] or None
