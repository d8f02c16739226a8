"""Command-line options of the demo, shared by ``hub demo`` and ``hub up --demo``.

Kept free of heavy imports: ``hub --help`` must not load the simulators.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options that choose and size the demo's systems."""
    p.add_argument("--systems", help="comma-separated demo systems (default: all of ops/demo/catalog.py)")
    p.add_argument("--seed", type=int, default=1, help="data seed of the simulators")
    p.add_argument("--count", type=int, default=200, help="records each simulator holds at start")
    p.add_argument("--bad-ratio", type=float, default=0.05, help="share of bad records")
    p.add_argument("--grow", type=int, default=2, help="records each system adds every --grow-interval seconds")
    p.add_argument("--grow-interval", type=float, default=1.0, help="seconds between growth steps")


def to_argv(args: argparse.Namespace) -> list[str]:
    """``args``' demo options as a command line (for the ``demo`` child of ``hub up --demo``)."""
    argv = []
    if getattr(args, "systems", None):
        argv += ["--systems", args.systems]
    for opt in ("seed", "count", "bad_ratio", "grow", "grow_interval"):
        if hasattr(args, opt):
            argv += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    return argv
