"""One server reached over SSH. Copy this file, put in your host, then:

    python -m provisioning deploy inventory/my_server.py
    # or: pyinfra -y inventory/my_server.py provisioning/deploy.py   (from the repository root)

Every setting not given here comes from provisioning/defaults.yml (the deploy's data_defaults).
API keys come from your environment or a git-ignored secrets.yml next to this file (mode 600):

    OPENAI_API_KEY: sk-...
    ANTHROPIC_API_KEY: sk-ant-...
"""

from pathlib import Path

hosts = [
    (
        "memory.example.org",
        {
            # How pyinfra connects: root, or a user with passwordless sudo (then "_sudo": True).
            "ssh_user": "root",
            # "ssh_port": 22,
            # "ssh_key": "~/.ssh/id_ed25519",
            # Settings from provisioning/defaults.yml you want to change, for example:
            # "cogmem_embedding_base_url": "http://127.0.0.1:11434/v1",  # Ollama on the host
            # "cogmem_backup_retention_days": 14,
            "cogmem_secrets_file": str(Path(__file__).with_name("secrets.yml")),
        },
    ),
]
