"""The wheel carries everything the tap needs at run time (definitions, schemas, format schema)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tap_example import __version__
from tap_example.definition import BUILTIN_APIS, load_definition

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 and "hatchling" in result.stderr:
        pytest.skip(
            "hatchling is not installed in this environment (pip wheel needs it without isolation)"
        )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("tap_example-*.whl")
    return built


def test_wheel_contains_runtime_data_and_metadata(wheel: Path) -> None:
    assert f"tap_example-{__version__}-" in wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tap_example/py.typed" in names
    assert "tap_example/definition.schema.json" in names
    for api in BUILTIN_APIS:
        assert f"tap_example/apis/{api}.yaml" in names
        for resource in load_definition(api=api, strict=False).resources:
            assert f"tap_example/schemas/{api}/{resource.name}.json" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    entry_points = (
        zipfile.ZipFile(wheel).read(metadata.replace("METADATA", "entry_points.txt")).decode()
    )
    assert "tap-example = tap_example.tap:TapExample.cli" in entry_points
    assert "tap-example-sandbox = tap_example.sandbox.cli:main" in entry_points
