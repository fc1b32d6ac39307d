"""A real HTTP/1.1 fake of the GLM "paas v4" API on 127.0.0.1, the oracle for offline tests.
Faithful to the documented wire format (glm-api.md): tolerant in what it accepts, exact in what it sends."""

from .api import Fault
from .server import FakeGLM, Recorded

__all__ = ["FakeGLM", "Fault", "Recorded"]
