"""The deployment test: ftmon's systemd units under a real systemd, its image under a real
Docker engine (`make deploy-check`, root only; see `python -m deploycheck --help`)."""
