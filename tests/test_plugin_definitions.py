"""meltano.yml and the Hub-style tap-example.yml declare exactly the tap's settings."""

from __future__ import annotations

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
