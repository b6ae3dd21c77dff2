"""The deployment check's pure parts: which mirror, which base images, which test config.

The check itself (`make deploy-check`) needs root, systemd-nspawn and dockerd; these are the
pieces that decide what it does and that a plain test run can hold to account.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deploycheck import fixtures
from deploycheck.docker import base_images
from deploycheck.host import CheckError, debian_mirror

ROOT = Path(__file__).resolve().parents[2]
OS_RELEASE = 'ID=debian\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12"\n'


def etc_with(tmp_path: Path, files: dict[str, str], os_release: str = OS_RELEASE) -> Path:
    etc = tmp_path / "etc"
    (etc / "apt/sources.list.d").mkdir(parents=True)
    (etc / "os-release").write_text(os_release)
    for name, text in files.items():
        (etc / "apt" / name).write_text(text)
    return etc


@pytest.mark.parametrize(
    ("files", "uri"),
    [
        (
            {
                "sources.list.d/debian.sources": (
                    "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\n"
                    "Suites: bookworm bookworm-updates\nComponents: main\n\n"
                    "Types: deb\nURIs: http://mirror.invalid/debian-security\n"
                    "Suites: bookworm-security\nComponents: main\n"
                )
            },
            "http://mirror.invalid/debian",
        ),
        (
            {
                "sources.list": (
                    "# deb http://old.invalid/debian bookworm main\n"
                    "deb-src http://src.invalid/debian bookworm main\n"
                    "deb [arch=amd64 signed-by=/k.gpg] http://one.invalid/debian bookworm main\n"
                )
            },
            "http://one.invalid/debian",
        ),
        (
            {
                "sources.list.d/other.sources": (
                    "Types: deb\nURIs: http://off.invalid/debian\nSuites: bookworm\n"
                    "Components: main\nEnabled: no\n"
                ),
                "sources.list.d/z.list": "deb http://later.invalid/debian bookworm main contrib\n",
            },
            "http://later.invalid/debian",
        ),
    ],
)
def test_the_mirror_comes_from_the_hosts_apt_sources(
    tmp_path: Path, files: dict[str, str], uri: str
) -> None:
    mirror = debian_mirror(etc_with(tmp_path, files))
    assert (mirror.uri, mirror.suite) == (uri, "bookworm")


def test_no_source_for_the_hosts_suite_is_an_error(tmp_path: Path) -> None:
    etc = etc_with(tmp_path, {"sources.list": "deb http://x.invalid/debian trixie main\n"})
    with pytest.raises(CheckError, match="bookworm main"):
        debian_mirror(etc)
    with pytest.raises(CheckError, match="Debian host"):
        debian_mirror(etc_with(tmp_path / "u", {}, "ID=ubuntu\nVERSION_CODENAME=noble\n"))


def test_base_images_are_the_froms_that_are_not_stages(tmp_path: Path) -> None:
    assert base_images(ROOT / "Dockerfile") == ["python:3.11-slim"]
    other = tmp_path / "Dockerfile"
    other.write_text(
        "FROM --platform=linux/amd64 debian:12 AS base\nFROM base AS build\n"
        "from python:3.12-slim\nFROM base\n"
    )
    assert base_images(other) == ["debian:12", "python:3.12-slim"]


@pytest.mark.parametrize("shipped", ["deploy/systemd/ftmon.toml", "deploy/sidecar/ftmon.toml"])
def test_the_checked_config_is_the_shipped_one_pointed_at_the_simulator(shipped: str) -> None:
    original = tomllib.loads((ROOT / shipped).read_text())
    checked = tomllib.loads(fixtures.checked_config(ROOT / shipped))
    assert {p["base_url"] for p in checked["providers"]} == {fixtures.SIM_URL}
    assert checked["monitor"]["first_run"] == "alert"
    assert checked["monitor"]["poll_interval"] == fixtures.POLL
    assert [r["kinds"] for r in checked["routes"]] == [r["kinds"] for r in original["routes"]]
    assert [r["channels"] for r in checked["routes"]] == [r["channels"] for r in original["routes"]]
