"""The appliance on a fresh Debian 13 host:  pyinfra INVENTORY provisioning/deploy.py

Re-running it changes nothing on a deployed host; on a new host it is the recovery procedure.
Settings: provisioning/defaults.yml, overridden by the inventory's data.
"""

from provisioning import plan as planning
from provisioning.components.app import app
from provisioning.components.backups import backups
from provisioning.components.config import config
from provisioning.components.databases import databases
from provisioning.components.postgres import postgres
from provisioning.components.record import record
from provisioning.components.schedules import schedules
from provisioning.components.service import service

# Settings, host release, secrets and wheel checked: nothing on the host has changed yet.
plan = planning.prepare()

# The components, in order. Each installs, configures and activates its own concern.
postgres()  # PostgreSQL + pgvector from Debian, loopback only, scram for the app role
installed = app(plan.wheel, plan.version)  # system user, virtualenv, the wheel
configured = config(plan.deployer_secrets)  # config.yaml, .env.production, .env.development
plan.missing_scripts = backups()  # dump and export folders (700), backup/restore scripts
databases(plan.migrations)  # role, both databases, pgvector, a given dump, migrations, checks
service(installed + configured, plan.startable)  # the hardened unit, restarted only on change
schedules()  # /etc/cron.d/cognitive-memory
record()  # /etc/cognitive-memory/deployed.json: what the checklist expects

# Printed after the run: the `claude mcp add` lines and the checklist command.
planning.remember(plan)
