"""meltano.yml and the Hub-style tap-example.yml declare exactly the tap's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tap_example.tap import SECRET_SETTINGS, TapExample

ROOT = Path(__file__).resolve().parent.parent
TAP_SETTINGS = set(TapExample.config_jsonschema["properties"])


def extractor(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "plugins" in document:
        plugins: list[dict[str, Any]] = document["plugins"]["extractors"]
        return next(p for p in plugins if p["name"] == "tap-example")
    return document


def test_meltano_yml_and_plugin_definition_declare_every_setting() -> None:
    for path in (ROOT / "meltano.yml", ROOT / "tap-example.yml"):
        plugin = extractor(path)
        settings = {s["name"]: s for s in plugin["settings"]}
        assert set(settings) == TAP_SETTINGS, path.name
        for name, setting in settings.items():
            assert setting.get("label") and setting.get("description"), (path.name, name)
            assert (setting.get("kind") == "password") == (name in SECRET_SETTINGS), (
                path.name,
                name,
            )
        assert plugin["namespace"] == "tap_example" and plugin["executable"] == "tap-example"
        assert {"catalog", "discover", "state", "about", "stream-maps"} <= set(
            plugin["capabilities"]
        )


def test_meltano_yml_has_an_environment_per_builtin_api() -> None:
    document = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    names = {env["name"] for env in document["environments"]}
    assert {"payments", "billing", "crm", "commerce", "clinical"} <= names


def about_markdown() -> str:
    """``tap-example --about --format markdown``, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from tap_example.tap import TapExample; TapExample.cli()",
            "--about",
            "--format",
            "markdown",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def about_section(about: str, title: str) -> list[str]:
    lines = about.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


def test_about_markdown_documents_every_setting_and_capability() -> None:
    """Every setting of the tap (those of every open issue included) is in ``--about --format
    markdown`` with a description and the tap's default; meltano.yml and tap-example.yml agree
    with it on defaults and capabilities."""
    about = about_markdown()
    rows = {}
    for line in about_section(about, "Settings"):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("Setting", ":--------"):
            rows[cells[0]] = cells
    assert not TAP_SETTINGS - set(rows), "settings missing from --about --format markdown"
    for name in TAP_SETTINGS:
        _, _, default, description = rows[name]
        assert description, name
        assert default == str(TapExample.config_jsonschema["properties"][name].get("default")), name
    capabilities = {line.strip("- `") for line in about_section(about, "Capabilities")}
    for path in (ROOT / "meltano.yml", ROOT / "tap-example.yml"):
        plugin = extractor(path)
        assert set(plugin["capabilities"]) == capabilities, path.name
        for setting in plugin["settings"]:
            if "value" in setting:
                assert str(setting["value"]) == rows[setting["name"]][2], (path.name, setting)
