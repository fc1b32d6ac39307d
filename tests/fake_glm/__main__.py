"""Run the fake GLM API by hand: `python -m tests.fake_glm [--port N] [--latency S] [--chunk-delay S]`.
Prints the base URL to use as ZAI_BASE_URL and serves until Ctrl-C."""

import argparse
import contextlib
import time

from .server import FakeGLM


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_glm", description="Serve a fake GLM API.")
    parser.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before every response")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between SSE events")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with FakeGLM(port=args.port) as fake:
        fake.latency = args.latency
        fake.chunk_delay = args.chunk_delay
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
