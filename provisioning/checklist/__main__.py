"""Run the checklist against hosts, print a pass/fail table, write JUnit XML.

    python -m provisioning.checklist --hosts=ssh://root@server [--ssh-config FILE]
        [--ssh-identity-file KEY] [--data key=value ...] [--junitxml PATH] [-- pytest args]

Exit status: 0 when every check passed (skips are notes), 1 when one failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from provisioning.settings import REPO

HERE = Path(__file__).resolve().parent
GROUPS = {
    "test_1_infrastructure": "Infrastructure",
    "test_2_database_setup": "Database setup",
    "test_3_environment_configuration": "Environment configuration",
    "test_4_backup_strategy": "Backup strategy",
    "test_5_dependencies": "Dependencies",
    "test_6_service": "Service",
    "test_7_schedules": "Schedules",
    "test_8_post_deployment_validation": "Post-deployment validation",
    "test_9_environment_separation": "Environment separation",
    "test_10_evaluation": "Evaluation",
}


def sentence(row: dict) -> tuple[str, str]:
    """(group, the check as a sentence) of a result row."""
    path, _, name = row["nodeid"].partition("::")
    group = GROUPS.get(Path(path).stem, Path(path).stem)
    text = name.partition("[")[0].removeprefix("test_").replace("_", " ")
    text = text[:1].upper() + text[1:]
    if row["params"]:
        text += f" ({', '.join(row['params'])})"
    return group, text


class Collector:
    """Keeps each test's outcome, duration and a short reason."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.params: dict[str, tuple[str, list[str]]] = {}

    def pytest_collection_modifyitems(self, items):
        for item in items:
            callspec = getattr(item, "callspec", None)
            # the ids pytest shows, one per parameter; testinfra's host id comes first
            ids = list(getattr(callspec, "_idlist", [])) if callspec else []
            target = ids.pop(0) if ids and "_testinfra_host" in callspec.params else ""
            self.params[item.nodeid] = (target, ids)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            reason = ""
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                reason = report.longrepr[2].removeprefix("Skipped: ")
            elif report.outcome == "failed":
                crash = getattr(report.longrepr, "reprcrash", None)
                reason = crash.message if crash else str(report.longrepr)
            target, params = self.params.get(report.nodeid, ("", []))
            self.rows.append(
                {
                    "nodeid": report.nodeid,
                    "host": target,
                    "params": params,
                    "outcome": report.outcome,
                    "seconds": report.duration,
                    "reason": reason.strip().splitlines()[0][:160] if reason.strip() else "",
                }
            )


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    marks = {"passed": "[green]pass[/]", "failed": "[red]FAIL[/]", "skipped": "[yellow]note[/]"}
    table = Table(title=title, show_lines=False, expand=False)
    for column in ("Group", "Check", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    hosts = {r["host"] for r in rows}
    if len(hosts) > 1:
        table.add_column("Host")
    last_group = None
    for row in rows:
        group, check = sentence(row)
        cells = [group if group != last_group else "", check, marks[row["outcome"]], row["reason"]]
        if len(hosts) > 1:
            cells.append(row["host"])
        table.add_row(*cells)
        last_group = group
    console = Console(width=shutil.get_terminal_size((140, 40)).columns)
    console.print(table)
    counts = {k: sum(r["outcome"] == k for r in rows) for k in marks}
    console.print(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} notes"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.checklist", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--hosts", required=True, help="e.g. ssh://root@server or ssh://NAME")
    parser.add_argument("--ssh-config", help="ssh config file (with --hosts=ssh://ALIAS)")
    parser.add_argument("--ssh-identity-file", help="private key")
    parser.add_argument("--ssh-extra-args", help="extra ssh arguments, one string")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--junitxml", help="JUnit XML report (default: reports/checklist-*.xml)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    junit = Path(args.junitxml or REPO / "reports" / f"checklist-{stamp}.xml")
    junit.parent.mkdir(parents=True, exist_ok=True)
    pytest_args = [
        str(HERE),
        f"--hosts={args.hosts}",
        f"--junitxml={junit}",
        "-o",
        "junit_suite_name=cognitive-memory-checklist",
        "-p",
        "no:cacheprovider",
        f"--rootdir={REPO}",
        "-q",
        "--no-header",
        "-rN",
        "--tb=short",
    ]
    for option in ("ssh_config", "ssh_identity_file"):
        if getattr(args, option):
            pytest_args.append(f"--{option.replace('_', '-')}={getattr(args, option)}")
    # One SSH connection for all checks (testinfra asks for ControlMaster but sets no path).
    sockets = tempfile.mkdtemp(prefix="cogmem-ssh-")
    extra = args.ssh_extra_args or ""
    if "controlpath" not in extra.lower():
        extra = f"{extra} -o ControlPath={sockets}/%C -o ControlPersist=10s".strip()
    pytest_args.append(f"--ssh-extra-args={extra}")
    pytest_args += [f"--data={item}" for item in args.data] + args.pytest_args
    collector = Collector()
    started = time.monotonic()
    try:
        code = pytest.main(pytest_args, plugins=[collector])
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    elapsed = time.monotonic() - started
    if collector.rows:
        print_table(collector.rows, f"Production checklist: {args.hosts} ({elapsed:.0f} s)")
    print(f"JUnit XML: {junit}")
    return 0 if code == 0 else (2 if code in (3, 4) else 1)


if __name__ == "__main__":
    sys.exit(main())
