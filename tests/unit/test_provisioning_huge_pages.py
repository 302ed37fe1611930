"""The huge page reservation: its size, the host fact, the file both deploy tools write."""

from __future__ import annotations

import pytest

from provisioning import huge_pages, render
from provisioning.settings import DEFAULTS

MB = 1024


def test_the_count_scales_with_the_buffers_and_rounds_up_to_whole_pages():
    # PostgreSQL's own need (tests/integration/test_huge_page_reservation.py): 2142 MB at 2GB.
    assert huge_pages.count("2GB", 2 * MB) == 1108
    assert huge_pages.count("2048MB", 2 * MB) == 1108
    assert huge_pages.count("128MB", 2 * MB) == 100
    assert huge_pages.count("2GB", 1024 * MB) == 3  # 1 GB pages: 2.2 GB takes three


@pytest.mark.parametrize(
    ("output", "kernel"),
    [
        ("2048\nwritable\n", (2048, True)),
        ("2048\nread-only\n", (2048, False)),
        ("1048576\nwritable", (1048576, True)),
        ("read-only\n", None),  # no Hugepagesize line: a kernel without huge pages
        ("0\nwritable\n", None),
        ("", None),
    ],
)
def test_the_host_fact_is_read_strictly(output, kernel):
    assert huge_pages.read_fact(output) == kernel


def test_a_host_that_cannot_set_them_gets_no_reservation():
    # Both tools reserve this (the Ansible filter cogmem_huge_page_count is this function).
    assert huge_pages.reservation("2048\nwritable\n", "1GB") == huge_pages.count("1GB", 2048)
    assert huge_pages.reservation("2048\nread-only\n", "1GB") == 0
    assert huge_pages.reservation("", "1GB") == 0


def test_the_drop_in_sets_the_count():
    text = render.render("sysctl-huge-pages.conf.j2", DEFAULTS, huge_page_count=557)
    assert "vm.nr_hugepages = 557" in text.splitlines()
    assert text.endswith("\n")
