"""Run the checklist against hosts, print a pass/fail table, write JUnit XML.

    python -m provisioning.checklist --hosts=ssh://root@server [--ssh-config FILE]
        [--ssh-identity-file KEY] [--sudo] [--data key=value ...] [--junitxml PATH]
        [-- pytest args]

The expected settings come from the host's /etc/cognitive-memory/deployed.json (written by
either deploy); --data overrides one of them.

Exit status: 0 when every check passed (skips are notes), 1 when one failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
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
    "test_11_alerts": "Alerts",
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
    failed = [row for row in rows if row["outcome"] == "failed"]
    if failed:
        # Repeated under the table: in a long table the red lines scroll out of sight.
        console.print("[red]Failed:[/]")
        for row in failed:
            group, check = sentence(row)
            host = f" on {row['host']}" if len(hosts) > 1 else ""
            console.print(f"  {group}: {check}{host}: {row['reason']}", markup=False)
    counts = {k: sum(r["outcome"] == k for r in rows) for k in marks}
    console.print(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} notes"
    )


def ssh_config(user_config: str | None, extra_args: str, sockets: str) -> str:
    """An ssh config: the user's file, then `-o Key=Value` options, then a shared connection."""
    lines = [f"Include {Path(user_config).expanduser().resolve()}"] if user_config else []
    words = shlex.split(extra_args)
    options = []
    while words:
        flag = words.pop(0)
        if flag.startswith("-o") and (flag[2:] or words):
            options.append((flag[2:] or words.pop(0)).replace("=", " ", 1))
        else:
            raise ValueError(f"--ssh-extra-args: only -o Key=Value options are supported ({flag})")
    lines.append("Host *")
    lines += [f"  {option}" for option in options]
    lines += [f"  ControlPath {sockets}/%C", "  ControlMaster auto", "  ControlPersist 10s"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.checklist", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--hosts", required=True, help="e.g. ssh://root@server or ssh://NAME")
    parser.add_argument("--ssh-config", help="ssh config file (with --hosts=ssh://ALIAS)")
    parser.add_argument("--ssh-identity-file", help="private key")
    parser.add_argument("--ssh-extra-args", help="extra ssh arguments, one string")
    parser.add_argument(
        "--sudo", action="store_true", help="run the checks through sudo (a non-root SSH user)"
    )
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
    if args.sudo:
        pytest_args.append("--sudo")
    if args.ssh_identity_file:
        pytest_args.append(f"--ssh-identity-file={args.ssh_identity_file}")
    # testinfra 10 drops --ssh-extra-args, so they go into an ssh config of this run, with one
    # shared connection for all checks; the user's --ssh-config is included first (it wins).
    sockets = tempfile.mkdtemp(prefix="cogmem-ssh-")
    try:
        config = ssh_config(args.ssh_config, args.ssh_extra_args or "", sockets)
    except ValueError as error:
        parser.error(str(error))
    (Path(sockets) / "config").write_text(config)
    pytest_args.append(f"--ssh-config={Path(sockets) / 'config'}")
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
