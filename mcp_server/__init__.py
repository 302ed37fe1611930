"""Cognitive Memory: self-hosted long-term memory for MCP clients."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cognitive-memory")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"
