"""The dlt oracle shared by the parity tests: what dlt extracts for a ``rest_api`` config, and
what the tap extracts for the same config handed over unchanged as an ``api_file``.

dlt is a test-only dependency; the test modules skip when it is missing
(``pytest.importorskip("dlt.sources.rest_api")``).
"""

from __future__ import annotations

import copy
import importlib
import logging
from pathlib import Path
from typing import Any

import yaml

from tap_example.definition import Definition, build_definition
from tests.conftest import records_by_stream, run_tap

Records = dict[str, list[dict[str, Any]]]


def dlt_records(config: dict[str, Any]) -> Records:
    """What dlt extracts for ``config``: each resource iterated, no pipeline, no destination."""
    rest_api: Any = importlib.import_module("dlt.sources.rest_api")
    logging.getLogger("dlt").setLevel(logging.ERROR)
    resources = rest_api.rest_api_resources(copy.deepcopy(config))
    return {resource.name: list(resource) for resource in resources}


def tap_messages(config: dict[str, Any], tmp_path: Path, **settings: Any) -> list[dict[str, Any]]:
    """The Singer messages of the tap run on ``config`` written to a YAML ``api_file``."""
    path = tmp_path / "dlt-config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return run_tap({"api_file": str(path), **settings})


def tap_records(config: dict[str, Any], tmp_path: Path) -> Records:
    """What the tap extracts for ``config``, handed over unchanged."""
    return records_by_stream(tap_messages(config, tmp_path))


def build(document: dict[str, Any], settings: dict[str, Any] | None = None) -> Definition:
    """The tap's definition of ``document`` (as if read from ``test.yaml``)."""
    return build_definition(
        document, origin="test.yaml", settings=settings or {}, base_dir=None, name="t"
    )
