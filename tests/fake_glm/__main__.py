"""Run the fake GLM API by hand: `python -m tests.fake_glm [--port N] [--platform zai|bigmodel]
[--latency S] [--chunk-delay S] [--task-polls N] [--task-seconds S] [--media-size BYTES]`.
Prints the base URL to use as ZAI_BASE_URL and serves until Ctrl-C."""

import argparse
import contextlib
import time

from .media import MEDIA_SIZE, TaskPlan
from .server import FakeGLM


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_glm", description="Serve a fake GLM API.")
    parser.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument(
        "--platform", choices=["zai", "bigmodel"], default="zai", help="whose reference it holds requests to"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before every response")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between SSE events")
    parser.add_argument("--task-polls", type=int, default=2, help="PROCESSING answers before a task is done")
    parser.add_argument("--task-seconds", type=float, default=None, help="seconds a task runs (beats polls)")
    parser.add_argument("--media-size", type=int, default=MEDIA_SIZE, help="bytes of each fake video")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with FakeGLM(port=args.port) as fake:
        fake.platform = args.platform
        fake.latency = args.latency
        fake.chunk_delay = args.chunk_delay
        fake.task_plan = TaskPlan(polls=args.task_polls, seconds=args.task_seconds)
        fake.media_size = args.media_size
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
