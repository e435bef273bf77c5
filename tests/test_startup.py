"""Start-up imports only what the run needs (issue 16): a structural test, not a timed one.

Each case runs a fresh interpreter and lists the modules it imported. The SDK's own imports
(``jsonschema`` and ``jsonpath_ng`` come with ``import singer_sdk``) are not the tap's to
avoid; what the tap adds must leave out the sandbox, schema inference, YAML for a JSON
definition, pendulum (unusual timestamp formats only), difflib (typo hints only), msgspec
(message writing only) and the SDK's test helpers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_example.sandbox import SandboxServer

#: The tap's own modules that only some runs need.
OWN_ON_DEMAND = (
    "tap_example.sandbox",  # `sandbox: true` or the sandbox CLI
    "tap_example.inference",  # a resource without a schema file, or discover_sample_pages
    "tap_example.engine.infer",  # the same, or a field the schema lacks (schema evolution)
    "tap_example.freeze_schemas",  # the schema-freezing tool
)
#: Third-party and SDK modules that only some runs need.
LIBRARIES_ON_DEMAND = (
    "pendulum",  # timestamps in unusual formats
    "difflib",  # a setting that is not one of the tap's (the closest name is suggested)
    "singer_sdk.testing",  # the SDK's test helpers
)
#: Modules the SDK imports on its own: the tap must not be what brings them in.
SDK_ALREADY = ("jsonschema", "jsonpath_ng")

#: Prints, at exit, the modules the interpreter imported (``MODULES [...]`` on stderr).
PROBE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print('MODULES', json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
)
CLI = "from tap_example.tap import TapExample; TapExample.cli()"


def imported(code: str, *args: str, tmp_path: Path | None = None) -> set[str]:
    """The modules a fresh interpreter running ``code`` (with ``args``) had imported at exit."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE + code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert lines, f"no module list (exit code {done.returncode}): {done.stderr[-2000:]}"
    assert done.returncode == 0, done.stderr[-2000:]
    modules: list[str] = json.loads(lines[-1].removeprefix("MODULES "))
    return set(modules)


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` (or their submodules) that are in ``modules``."""
    return sorted(
        name for name in names if any(m == name or m.startswith(name + ".") for m in modules)
    )


def test_importing_the_tap_adds_nothing_a_run_may_not_need() -> None:
    sdk = imported("import singer_sdk")
    tap = imported("import tap_example.tap")
    added = tap - sdk
    on_demand = (*OWN_ON_DEMAND, *LIBRARIES_ON_DEMAND, "yaml", "msgspec", "singer_sdk.contrib")
    assert loaded(tap, on_demand) == []
    assert loaded(added, SDK_ALREADY) == []


def test_about_imports_no_definition_reader_nor_writer() -> None:
    modules = imported(CLI, "--about")
    assert loaded(modules, (*OWN_ON_DEMAND, *LIBRARIES_ON_DEMAND, "yaml", "msgspec")) == []


def _json_definition(tmp_path: Path) -> Path:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    (tmp_path / "things.json").write_text(json.dumps(schema))
    definition = {
        "client": {"base_url": "http://127.0.0.1:9"},
        "resources": [{"name": "things", "schema": "things.json", "endpoint": {"path": "/things"}}],
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(definition))
    return path


def test_discovery_from_a_json_definition_with_schemas_needs_no_yaml_nor_inference(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_file": str(_json_definition(tmp_path))}))
    modules = imported(CLI, "--config", str(config), "--discover", tmp_path=tmp_path)
    assert "tap_example.definition.load" in modules  # the definition was read
    assert loaded(modules, (*OWN_ON_DEMAND, *LIBRARIES_ON_DEMAND, "yaml")) == []


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_a_sync_of_a_built_in_api_imports_no_sandbox_nor_inference(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {**sandbox.tap_config(), "backoff_factor": 0.01}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings))
    modules = imported(CLI, "--config", str(config), tmp_path=tmp_path)
    assert "msgspec" in modules  # records were written
    # The sandbox's records bring fields their schemas lack: schema evolution infers them.
    not_needed = tuple(m for m in OWN_ON_DEMAND if m != "tap_example.engine.infer")
    assert loaded(modules, (*not_needed, "singer_sdk.testing", "difflib")) == []
