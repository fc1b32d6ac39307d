"""formats.py: whole media passes (small samples and files real encoders wrote), and bytes that only begin
like a format are refused with a reason; the walk reads a block at a time."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from mcp_server_glm import formats
from mcp_server_glm.audio_chunks import mp3_seconds
from mcp_server_glm.errors import Damaged
from mcp_server_glm.files import mpeg
from tests.samples import GIF, JPEG, MOV, MOV_ATOM, MP3, MP3_FRAME, MP4, PNG, WAV, WEBP, mp3, png, png_chunk

TEXT = b"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" * 20  # 1.3 KB of text


def check(ext: str, data: bytes) -> None:
    formats.check(ext, io.BytesIO(data), len(data))


def damaged(ext: str, data: bytes) -> str:
    with pytest.raises(Damaged) as caught:
        check(ext, data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("ext", "data"),
    [
        (".png", PNG),
        (".png", png(b"a comment")),
        (".jpg", JPEG),
        (".jpg", JPEG + JPEG),  # a multi-picture file: a second whole picture after the first
        (".gif", GIF),
        (".webp", WEBP),
        (".wav", WAV),
        (".mp3", MP3),
        (".mp3", MP3_FRAME),
        (".mp3", MP3_FRAME[:-100]),  # the last frame cut short, as a cut recording has it
        (".mp3", MP3 + b"TAG" + bytes(125)),  # an ID3v1 tag at the end
        (".mp4", MP4),
        (".mov", MOV),
        (".mov", MOV_ATOM),
    ],
)
def test_whole_samples_pass(ext: str, data: bytes) -> None:
    check(ext, data)


ENCODED = {
    ".mp3": ["-f", "lavfi", "-i", "sine=duration=1", "-ac", "1", "-ar", "22050", "-b:a", "64k"],
    ".wav": ["-f", "lavfi", "-i", "sine=duration=1", "-ac", "1", "-ar", "8000"],
    ".jpg": ["-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1"],
    ".png": ["-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1"],
    ".gif": ["-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1"],
    ".mp4": ["-f", "lavfi", "-i", "testsrc=size=64x48:duration=0.3", "-c:v", "mpeg4"],
    ".mov": ["-f", "lavfi", "-i", "testsrc=size=64x48:duration=0.3", "-c:v", "mpeg4"],
}


@pytest.mark.parametrize("ext", list(ENCODED))
def test_files_an_encoder_wrote_pass(ext: str, tmp_path: Path) -> None:
    import imageio_ffmpeg

    path = tmp_path / f"out{ext}"
    options = ["-write_id3v1", "1"] if ext == ".mp3" else []
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", *ENCODED[ext], *options, str(path)],
        check=True,
        timeout=60,
    )
    check(ext, path.read_bytes())


def corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


DAMAGED = [
    (".png", b"\x89PNG\r\n\x1a\n" + TEXT, "it does not begin with its one IHDR chunk"),
    (".png", b"\x89PNG\r\n\x1a\n" + TEXT[4:], "it has an invalid chunk at byte 8"),
    (".png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + TEXT, "its IHDR chunk has a bad CRC"),
    (".png", PNG + TEXT, f"{len(TEXT)} bytes follow its IEND chunk"),
    (".png", corrupt(PNG, len(PNG) - 20), "its IDAT chunk has a bad CRC"),
    (".png", PNG[:-12], "it ends inside its chunk header"),
    (".png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"tEXt", b"x") + PNG[8:], "does not begin with its one IHDR"),
    (".png", PNG[:33] + png_chunk(b"IEND", b""), "it has no image data (IDAT)"),
    (
        ".png",
        PNG[:8] + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 1, 8, 0, 0, 0, 0)) + PNG[33:],
        "its IHDR gives an impossible size (0x1)",
    ),
    (".jpg", b"\xff\xd8\xff\xe0" + TEXT, "segment"),
    (".jpg", b"\xff\xd8" + TEXT, "it has no segment marker at byte 2"),
    (".jpg", JPEG[:-2], "it ends inside a scan, before its end (EOI)"),
    (".jpg", JPEG + TEXT, f"{len(TEXT)} bytes follow its end (EOI)"),
    (".gif", b"GIF89a\x01\x00\x01\x00" + TEXT, "it has an unknown block"),
    (".gif", GIF[:-1], "it ends inside its blocks"),
    (".gif", GIF + TEXT, f"{len(TEXT)} bytes follow its trailer"),
    (".webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + TEXT, "its RIFF header gives 44 bytes"),
    (
        ".wav",
        b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32),
        "its RIFF header gives 44 bytes, but the file has 48",
    ),
    (".wav", WAV + TEXT, f"its RIFF header gives {len(WAV)} bytes"),
    (".wav", WAV[:-10], f"its RIFF header gives {len(WAV)} bytes"),
    (
        ".mp3",
        b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + TEXT,
        "its MPEG audio frames stop at byte 427",
    ),
    (".mp3", b"\xff\xfb\x90" + TEXT, "its MPEG audio frames stop at byte 417"),
    (".mp3", b"\xff\xfb\x90" + TEXT[:300], "it holds no whole MPEG audio frame"),
    (".mp3", MP3 + TEXT, f"its MPEG audio frames stop at byte {len(MP3)}"),
    (".mp3", b"ID3\x04\x00\x00\x00\x01\x00\x00" + MP3_FRAME, "its ID3 tag is larger than the file"),
    (".mp4", MP4 + TEXT, "box"),
    (".mp4", MP4[:-1], "it ends inside its box mdat"),
]


@pytest.mark.parametrize(
    ("ext", "data", "reason"), [pytest.param(*case, id=f"{case[0]}-{case[2]}") for case in DAMAGED]
)
def test_bytes_that_only_begin_like_a_format_are_refused(ext: str, data: bytes, reason: str) -> None:
    assert reason in damaged(ext, data)


class Reads(io.BytesIO):
    """A file that remembers the largest read asked of it."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.largest = max(self.largest, len(data))
        return data


def test_a_long_recording_is_walked_a_block_at_a_time() -> None:
    data = mp3(20_000)  # 8 MiB of frames
    file = Reads(data)
    formats.check(".mp3", file, len(data))
    assert file.largest <= formats.BLOCK


def test_the_duration_of_an_mp3_comes_from_the_same_frame_parser() -> None:
    data = mp3(frames=100, id3=True)
    seconds = mp3_seconds(io.BytesIO(data), len(data))
    assert seconds == pytest.approx(100 * 417 * 8 / 128_000)
    frame = mpeg.mpeg_frame(data[10:14])
    assert frame == mpeg.MpegFrame(kbps=128, sample_rate=44100, length=417)


@pytest.mark.parametrize(
    "header",
    [
        b"\xff\xfeh\x00",  # a UTF-16 byte order mark and text
        b"\xff\xfb\x00\x64",  # free-format bitrate
        b"\xff\xfb\xf0\x64",  # bitrate index 15
        b"\xff\xfb\x9c\x64",  # reserved sample rate
        b"\xff\xfb\x90\x66",  # reserved emphasis
        b"\xff\xfd\x90\x64",  # layer II
        b"\xff\xfb\x90",  # too short
    ],
)
def test_not_an_mpeg_layer_iii_header(header: bytes) -> None:
    assert mpeg.mpeg_frame(header) is None


def test_one_mpeg_parser_serves_the_sniff_the_check_and_the_audio_cutter() -> None:
    """files/mpeg.py is the only MPEG parser: the whole-file check walks its frames with it, the sniff
    recognises a bare frame by it, and the cutter's duration counts from the frame it finds."""
    from mcp_server_glm import audio_chunks
    from mcp_server_glm.files import sniff

    assert vars(formats)["mpeg"] is mpeg and vars(audio_chunks)["mpeg"] is mpeg
    data = mp3(frames=100, id3=True) + b"TAG" + bytes(125)
    walked = mpeg.walk(io.BytesIO(data), len(data))
    start = mpeg.id3_size(data[:10])
    assert (walked.start, walked.end, walked.frames) == (start, len(data) - 128, 100)
    assert walked.stop == walked.end == start + 100 * 417
    assert mpeg.trailing_tags(io.BytesIO(data), len(data)) == 128
    assert sniff(mp3(frames=1)) == ("audio", ".mp3")
    assert sniff(b"\xff\xfeh\x00i\x00") is None  # sync bits alone (a UTF-16 BOM) are not a frame
    bare = mp3(frames=10)
    assert mpeg.duration(io.BytesIO(bare), len(bare)) == pytest.approx(10 * 417 * 8 / 128_000)


def test_an_mp3_without_a_frame_has_no_duration() -> None:
    from mcp_server_glm.errors import AudioError

    junk = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 4096
    assert mpeg.duration(io.BytesIO(junk), len(junk)) is None
    with pytest.raises(AudioError, match="no MPEG audio frame found"):
        mp3_seconds(io.BytesIO(junk), len(junk))
    walked = mpeg.walk(io.BytesIO(junk), len(junk))
    assert walked.frames == 0 and walked.stop == 10
