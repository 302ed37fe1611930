"""`python -m mcp_server [OPTIONS]` starts the server, exactly like `cognitive-memory serve`."""

import sys

from mcp_server.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
