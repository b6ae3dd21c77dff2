"""The deployment files (systemd units, Dockerfile, shipped configs)."""
