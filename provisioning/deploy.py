"""The appliance on a fresh Debian 13 host:  pyinfra INVENTORY provisioning/deploy.py

Re-running it changes nothing on a deployed host; on a new host it is the recovery procedure.
Settings: provisioning/defaults.yml, overridden by the inventory's data.
"""

from provisioning import plan as planning
from provisioning.components import offsite
from provisioning.components.app import app
from provisioning.components.backups import backups
from provisioning.components.config import config
from provisioning.components.databases import databases
from provisioning.components.pitr import pitr, pitr_base
from provisioning.components.postgres import postgres
from provisioning.components.schedules import schedules
from provisioning.components.service import service

# Settings, host release, secrets and wheel checked: nothing on the host has changed yet.
# None on a backup host (inventory group backup_hosts), which gets only its own component.
plan = planning.prepare()
appliance = plan is not None

# The components, in order. Each installs, configures and activates its own concern.
if appliance:
    postgres()  # PostgreSQL + pgvector from Debian, loopback only, scram for the app role
    installed = app(plan.wheel, plan.version)  # system user, virtualenv, the wheel
    offsite.keys()  # SSH keys for the backup host (if any), made here, never shown
offsite.backup_host()  # the backup host's account; every host of the run waits here
if appliance:
    offsite.pinned()  # the backup host's own keys pinned, where the copies go
    configured = config(plan.deployer_secrets)  # config.yaml, .env.production, .env.development
    plan.missing_scripts = backups()  # dump and export folders (700), backup/restore scripts
    pitr()  # pgBackRest to the backup host: a new host restored from it, WAL archived
    databases(plan.migrations)  # role, both databases, pgvector, a given dump, migrations, checks
    pitr_base()  # the first full backup on the backup host
    service(installed + configured, plan.startable)  # the hardened unit, restarted on change
    schedules()  # /etc/cron.d/cognitive-memory

    # Printed after the run: the `claude mcp add` lines and the checklist command.
    planning.remember(plan)
