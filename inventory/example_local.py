"""This machine itself: a Debian 13 host you are logged in to as root (pyinfra's @local).

    python -m provisioning deploy inventory/example_local.py

Settings not given here come from provisioning/defaults.yml; API keys from your environment
or the git-ignored secrets.yml in the current folder (mode 600).
"""

hosts = ["@local"]
