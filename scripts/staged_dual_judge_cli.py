#!/usr/bin/env python3
"""Staged dual judge: `--status` shows the stage; `--evaluate` runs the monthly spot check."""

import argparse
import json
import sys

from mcp_server.cli import user_errors
from mcp_server.db.connection import connect
from mcp_server.evaluation.staged_judge import status
from mcp_server.runtime import load


@user_errors
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--status", action="store_true")
    action.add_argument("--evaluate", action="store_true")
    args = parser.parse_args()
    loaded = load(log_level="WARNING", providers=False)
    settings = loaded.settings
    if args.evaluate and not settings.evaluation.enabled:
        print("Evaluation is disabled (evaluation.enabled: false in config.yaml): nothing to do.")
        return 0
    with connect(settings, url=loaded.database_url) as conn:
        current = status(conn, settings.staged_dual_judge.kappa_threshold)
    print(json.dumps(current.__dict__))
    if args.evaluate:
        print("error: spot-check evaluation is not part of this release yet", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
