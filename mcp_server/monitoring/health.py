"""The watchdog's question: is the event loop turning and does the pool give a live connection?"""

from __future__ import annotations

from mcp_server.app_context import AppContext


class PoolHealth:
    """Attached to the server's lifespan, so it checks the very pool the tools use."""

    def __init__(self) -> None:
        self.app: AppContext | None = None

    async def __call__(self) -> bool:
        if self.app is None:
            return False
        async with self.app.pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
        return True
