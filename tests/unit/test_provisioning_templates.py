"""The deploy's templates render from the defaults into files their own tools accept.

No host needed: the unit file goes through `systemd-analyze verify` and `security --offline`,
the config through the server's own loader, the env file through python-dotenv.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from mcp_server.config import load_settings
from provisioning import render
from provisioning.settings import DEFAULTS, REPO

UNIT = "cognitive-memory-mcp.service"
MAX_EXPOSURE = 2.0


def settings(**overrides):
    return {**DEFAULTS, **overrides}


@pytest.fixture
def unit_file(tmp_path) -> Path:
    """The unit rendered with a prefix whose ExecStart exists, as verify checks it."""
    prefix = tmp_path / "prefix"
    executable = prefix / "venv/bin/cognitive-memory"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    path = tmp_path / UNIT
    path.write_text(render.render(f"{UNIT}.j2", settings(cogmem_prefix=str(prefix))))
    return path


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze missing; run: apt-get install systemd (make system-packages)")
    return tool


def test_the_unit_passes_systemd_analyze_verify(unit_file):
    result = subprocess.run(
        [systemd_analyze(), "verify", unit_file.name],
        cwd=unit_file.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    # verify reports unknown directives and bad values as warnings with exit code 0
    assert result.stderr.strip() == "", result.stderr


def test_the_unit_exposure_is_at_most_two(unit_file):
    command = [systemd_analyze(), "security", "--offline=yes", unit_file.name]
    report = subprocess.run(command, cwd=unit_file.parent, capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", report.stdout)
    assert match, report.stdout + report.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, report.stdout
    # --threshold counts tenths (2.0 -> 20) and fails the command above it
    gate = subprocess.run(
        [*command, f"--threshold={int(MAX_EXPOSURE * 10)}"],
        cwd=unit_file.parent,
        capture_output=True,
        text=True,
    )
    assert gate.returncode == 0, gate.stdout


def test_the_unit_is_a_notify_service_with_watchdog_and_restart():
    unit = render.render(f"{UNIT}.j2", settings(cogmem_watchdog_sec=10, cogmem_restart_sec=3))
    lines = set(unit.splitlines())
    for expected in (
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=10",
        "Restart=on-failure",
        "RestartSec=3",
        "Environment=ENVIRONMENT=production",
        "Environment=COGMEM_CONFIG_DIR=/opt/cognitive-memory/config",
        "User=cognitive-memory",
        "ExecStart=/opt/cognitive-memory/venv/bin/cognitive-memory serve --transport http "
        "--host 127.0.0.1 --port 8765",
    ):
        assert expected in lines
    # A PostgreSQL restart must not restart the server (Requires= would propagate it).
    assert not any(line.startswith(("Requires=", "BindsTo=", "PartOf=")) for line in lines)


@pytest.mark.parametrize("environment", ["production", "development"])
def test_the_rendered_config_loads_in_the_server(tmp_path, environment):
    text = render.render(
        "config.yaml.j2",
        settings(cogmem_embedding_provider="hashing", cogmem_allow_hashing_in_production=True),
    )
    (tmp_path / "config.yaml").write_text(text)
    loaded = load_settings(environment, tmp_path, secrets=False)
    expected = {"production": "cognitive_memory", "development": "cognitive_memory_dev"}
    assert loaded.database.name == expected[environment]
    assert loaded.logging.level == {"production": "INFO", "development": "DEBUG"}[environment]
    assert loaded.embedding.provider == "hashing"


def _key_paths(tree, prefix=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _key_paths(value, (*prefix, key))
    else:
        yield prefix


def test_the_config_template_has_every_key_of_the_repository_config():
    template = yaml.safe_load(render.render("config.yaml.j2", DEFAULTS))
    repository = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert set(_key_paths(template["base"])) == set(_key_paths(repository["base"]))


def test_the_env_file_round_trips_through_python_dotenv(tmp_path):
    awkward = 'pa"ss\\word $HOME #not-a-comment'
    text = render.env_file(
        DEFAULTS,
        "production",
        db_password="generated-password",
        token="generated-token-0123456789",
        secrets={"OPENAI_API_KEY": "sk-test", "SMTP_PASSWORD": awkward},
    )
    path = tmp_path / ".env.production"
    path.write_text(text)
    values = dotenv_values(path, interpolate=False)
    assert values["DATABASE_URL"] == (
        "postgresql://mcp_user:generated-password@127.0.0.1:5432/cognitive_memory"
    )
    assert values["MCP_HTTP_TOKEN"] == "generated-token-0123456789"
    assert values["OPENAI_API_KEY"] == "sk-test"
    assert values["ANTHROPIC_API_KEY"] == "your-anthropic-api-key"
    assert values["SMTP_PASSWORD"] == awkward
    assert "SLACK_WEBHOOK_URL" not in values


def test_the_development_env_file_points_at_the_development_database():
    text = render.env_file(DEFAULTS, "development", db_password="p", token="t", secrets={})
    assert '@127.0.0.1:5432/cognitive_memory_dev"' in text


def test_missing_keys_become_placeholders_the_server_names(tmp_path):
    (tmp_path / "config.yaml").write_text(render.render("config.yaml.j2", DEFAULTS))
    env = tmp_path / ".env.production"
    env.write_text(
        render.env_file(DEFAULTS, "production", db_password="p", token="t" * 20, secrets={})
    )
    env.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        load_settings("production", tmp_path)


def test_the_cron_file_runs_every_job_as_the_service_user_at_its_time():
    text = render.render("cron.d.j2", DEFAULTS)
    assert text.endswith("\n")  # cron ignores a last line without newline
    jobs = [line for line in text.splitlines() if line and line[0].isdigit()]
    schedules = {" ".join(line.split()[:5]): line.split()[5:] for line in jobs}
    assert set(schedules) == {
        DEFAULTS[key]
        for key in (
            "cogmem_cron_backup",
            "cogmem_cron_export_l2",
            "cogmem_cron_drift_check",
            "cogmem_cron_budget_alerts",
            "cogmem_cron_spot_check",
            "cogmem_cron_restore_test",
            "cogmem_cron_backup_check",
        )
    }
    for words in schedules.values():
        assert words[0] == "cognitive-memory"
        assert words[1:3] == ["systemd-cat", "-t"]
    assert "ENVIRONMENT=production" in text.splitlines()


def test_pg_hba_lets_only_the_app_role_in_with_scram():
    lines = [
        line.split()
        for line in render.render("pg_hba.conf.j2", DEFAULTS).splitlines()
        if line and not line.startswith("#")
    ]
    app = [line for line in lines if line[2] == "mcp_user"]
    assert {line[3] for line in app} == {"127.0.0.1/32", "::1/128"}
    # its two databases and the ones a restore and the restore test create beside them
    own = {f"{db}{suffix}" for db in ("cognitive_memory", "cognitive_memory_dev")
           for suffix in ("", "__restoring", "__previous", "__restore_test")}  # fmt: skip
    assert all(line[0] == "host" and set(line[1].split(",")) == own for line in app)
    assert all(line[-1] == "scram-sha-256" for line in app)
    assert lines[-1][-1] == "reject"


def test_the_watched_jobs_record_and_alert_through_cognitive_memory_job():
    text = render.render("cron.d.j2", DEFAULTS)
    assert f"COGMEM_STATE_DIR={DEFAULTS['cogmem_backup_dir']}/jobs" in text.splitlines()
    for job in ("backup", "export-l2", "drift-check", "restore-test", "backup-check"):
        line = next(line for line in text.splitlines() if f" job {job} -- " in line)
        assert line.split()[5] == DEFAULTS["cogmem_user"]


def test_the_alert_unit_passes_verify_and_the_server_names_it_on_failure(tmp_path):
    prefix = tmp_path / "prefix"
    executable = prefix / "venv/bin/cognitive-memory"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    alert = tmp_path / f"cognitive-memory-alert@{UNIT}.service"  # the instance OnFailure= starts
    alert.write_text(render.render("cognitive-memory-alert@.service.j2",
                                   settings(cogmem_prefix=str(prefix))))  # fmt: skip
    result = subprocess.run([systemd_analyze(), "verify", alert.name], cwd=tmp_path,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    assert f"ExecStart={executable} alert --unit %i" in alert.read_text()
    unit = render.render(f"{UNIT}.j2", DEFAULTS)
    assert "OnFailure=cognitive-memory-alert@%n.service" in unit.splitlines()


def test_postgresql_gets_the_configured_shared_buffers():
    assert "shared_buffers = '1GB'" in render.render("postgresql.conf.j2", DEFAULTS).splitlines()
    rendered = render.render("postgresql.conf.j2", settings(postgresql_shared_buffers="4GB"))
    assert "shared_buffers = '4GB'" in rendered.splitlines()
