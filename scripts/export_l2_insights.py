#!/usr/bin/env python3
"""Cron entry point kept from the original system: `cognitive-memory export-l2`."""

import sys

from mcp_server.cli import main

if __name__ == "__main__":
    main(["export-l2", *sys.argv[1:]])
