"""What the memory server exposes and writes, named once for every test that counts on it."""

import psycopg

TOOLS = frozenset({
    "ping",
    "store_raw_dialogue",
    "compress_to_l2_insight",
    "hybrid_search",
    "update_working_memory",
    "store_episode",
    "evaluate_answer",
    "store_dual_judge_scores",
    "get_golden_test_results",
})  # fmt: skip
MEMORY_TABLES = ("l0_raw", "l2_insights", "working_memory", "stale_memory", "episode_memory")


def row_counts(url: str) -> dict[str, int]:
    """Rows per memory table: a refused call must leave these unchanged."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in MEMORY_TABLES
        }
