"""Every local file the server reads, every URL it fetches for a client and every file it writes: the
public names of the package (its modules: local, sniffing, mpeg, ssrf, fetch, outputs, core).
"""

from ..errors import FileRefused
from .core import Files
from .sniffing import sniff
from .ssrf import check_remote_url
from .types import InputFile, MediaKind, OpenInput, SavedFile

__all__ = [
    "FileRefused",
    "Files",
    "InputFile",
    "MediaKind",
    "OpenInput",
    "SavedFile",
    "check_remote_url",
    "sniff",
]
