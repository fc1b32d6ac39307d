"""Run the benchmarks and print one table: `python -m benchmarks [name ...] [--quick]`, from the repository.

Every figure is compared with a baseline measured in the same run; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from importlib.metadata import version

from .common import Row

BENCHMARKS = ("coldstart", "overhead", "concurrency", "polling", "transfer", "replicas", "signin")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer runs: a smoke test, not a measurement (a missed target does not fail it)",
    )
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    rows: list[Row] = []
    for name in args.names or BENCHMARKS:
        started = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        rows += module.run(args.quick)
        print(f"  {name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(machine())
    print()
    print(table(rows))
    if any(row.met is False for row in rows) and not args.quick:
        sys.exit(1)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; mcp {version('mcp')}, httpx2 {version('httpx2')}, "
        f"mcp-server-glm {version('mcp-server-glm')}"
    )


def table(rows: list[Row]) -> str:
    header = ("what", "ours", "baseline", "ratio", "target", "met")
    lines = [
        (
            row.name,
            row.measured,
            row.baseline,
            "" if row.ratio is None else f"{row.ratio:.3f}",
            row.target,
            {True: "yes", False: "NO", None: ""}[row.met],
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    out = [_line(header, widths), rule, *(_line(cells, widths) for cells in lines)]
    return "\n".join(out)


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"


if __name__ == "__main__":
    main()
