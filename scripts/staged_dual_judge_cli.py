#!/usr/bin/env python3
"""Staged dual judge, the seed's entry point: --status or --evaluate [--apply].

A thin wrapper over `cognitive-memory judge status|evaluate` (the monthly cron job runs
--evaluate: it reverts a LOW phase 2 to the dual judge and alerts).
"""

import argparse
import sys

from mcp_server.cli import main as cognitive_memory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--status", action="store_true", help="phase, kappa, health, costs")
    action.add_argument("--evaluate", action="store_true", help="decide the phase")
    parser.add_argument("--apply", action="store_true", help="with --evaluate: move to phase 2")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    command = ["judge", "status" if args.status else "evaluate"]
    command += ["--apply"] if args.apply and args.evaluate else []
    command += ["--json"] if args.json else []
    cognitive_memory(command)


if __name__ == "__main__":
    sys.exit(main())
