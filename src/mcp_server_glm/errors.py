"""The base of the server's own failures that a tool reports as they are: a refused file, a store that
cannot be written, audio that cannot be cut. Catching the base needs none of the modules that raise them.
"""


class Refusal(Exception):
    """A failure whose message is one line a model can act on (it names the input, file or store)."""
