"""Health, systemd integration, drift checks."""
