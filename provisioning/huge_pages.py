"""vm.nr_hugepages for PostgreSQL's shared memory: how many, and whether the host can set it.

Each step of an HNSW search reads another page of the buffer cache, which on 4 kB pages is
likely a TLB miss too (not measurable here: no perf counters). With the 2 GB of
shared_buffers in 2 MB pages, the vector branch at 100k insights x 1536 dimensions
took 0.85x the time and a search through MCP 0.92x (alternating runs on one database,
bench/hybrid_search.py's data, issue 10). PostgreSQL maps them (huge_pages = try, its
default) only when the kernel holds enough free huge pages at its start; else it falls back
to normal pages and says so in `SHOW huge_pages_status`.

A container shares its host's kernel, whose /proc/sys it may not write: there the deploy
leaves the setting alone (`FACT`).
"""

from __future__ import annotations

import math
import re

UNITS_KB = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
# Beside the buffers, the shared memory holds their descriptors, the WAL buffers, the lock
# tables and the like: 2142 MB for 2 GB of buffers (PostgreSQL 18, `SHOW shared_memory_size`).
# 5 % and 64 MB more cover that at any size; pages left over stay free for the next start.
OVERHEAD_SHARE = 0.05
OVERHEAD_KB = 64 * 1024

# The host's huge page size in kB, and "writable" when this deploy may set vm.nr_hugepages
# (root on a host with its own kernel). Read-only: a pyinfra fact and an Ansible task alike.
FACT = (
    "awk '/^Hugepagesize:/ {print $2}' /proc/meminfo; "
    "test -w /proc/sys/vm/nr_hugepages && echo writable || echo read-only"
)


def size_kb(size: str) -> int:
    """A PostgreSQL memory size (settings.py checks its form: 512MB, 2GB) in kB."""
    number, unit = re.fullmatch(r"([0-9]+)(kB|MB|GB|TB)", size).groups()
    return int(number) * UNITS_KB[unit]


def count(shared_buffers: str, page_kb: int) -> int:
    """Huge pages enough for PostgreSQL's shared memory with these shared_buffers."""
    needed = size_kb(shared_buffers) * (1 + OVERHEAD_SHARE) + OVERHEAD_KB
    return math.ceil(needed / page_kb)


def reservation(fact_output: str, shared_buffers: str) -> int:
    """The huge pages a deploy reserves on a host with this FACT output; 0: leave it alone."""
    kernel = read_fact(fact_output)
    if kernel is None or not kernel[1]:
        return 0
    return count(shared_buffers, kernel[0])


def read_fact(output: str) -> tuple[int, bool] | None:
    """(page size in kB, writable) from FACT's output; None where the kernel has no huge pages."""
    lines = output.split()
    if len(lines) != 2 or not lines[0].isdigit() or int(lines[0]) <= 0:
        return None
    return int(lines[0]), lines[1] == "writable"
