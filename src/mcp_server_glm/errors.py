"""The base of the server's own failures that a tool reports as they are: a refused file, a store that
cannot be written, audio that cannot be cut. Catching the base needs none of the modules that raise them.
"""


class Refusal(Exception):
    """A failure whose message is one line a model can act on (it names the input, file or store)."""


class FileRefused(Refusal):
    """An input or output the server will not use; str() is one line a model can act on, e.g.
    'image "/home/u/.ssh/id_rsa" is refused: hidden files and directories (".ssh") are never read'."""


class InputRefused(Exception):
    """Why the files package refuses an input or a URL; the caller adds what was refused."""


class FetchFailed(Exception):
    """Why a fetch failed (network, status, size, time); the caller adds the URL."""
