"""`python -m mcp_server` starts the server, exactly like `cognitive-memory serve`."""

from mcp_server.cli import main

if __name__ == "__main__":
    main(["serve"])
