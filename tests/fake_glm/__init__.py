"""A real HTTP/1.1 fake of the GLM "paas v4" API on 127.0.0.1, the oracle for offline tests.
Faithful to the documented wire format (glm-api.md): as strict as the references in what it accepts
(`reference.py` the schema level, the routes the per-model rules), exact in what it sends.

Routes, under /api/paas/v4: chat/completions, web_search, images/generations, async/images/generations,
videos/generations, GET async-result/{id} (tasks follow `FakeGLM.task_plan`; `fake.finish_task(id)` ends one
at its next poll, `fake.replan(id, plan)` gives one a new plan), audio/transcriptions (multipart), and the
platform tools of platform.py: reader, layout_parsing, audio/speech, embeddings, rerank, tokenizer,
v1/agents (also at the host root, /api/v1/agents); at the root only, GET /api/monitor/usage/quota/limit (the
Coding Plan's quota). The GLM Coding Plan's /api/coding/paas/v4 serves chat/completions only (1113
elsewhere); keys in `FakeGLM.coding_keys` are a plan without balance, refused (1113) by every general route
but the quota. At the root, without a key: GET /media/<name>, the CDN files behind the generated image and
video URLs."""

from .api import Fault
from .media import Task, TaskPlan
from .platform import Page, Quota
from .server import FakeGLM, Recorded

__all__ = ["FakeGLM", "Fault", "Page", "Quota", "Recorded", "Task", "TaskPlan"]
