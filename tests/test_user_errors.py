"""User mistakes and broken environments end in one line naming what and where, exit code 1,
no traceback and no "please report it" (issue 14.4 and 14.5)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tap_example.engine.failures import connection_failure
from tap_example.environment import dependency_problem, version_tuple
from tap_example.sandbox import SandboxServer
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "from tap_example.tap import TapExample; TapExample.cli()"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "please report" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-example: error: "), result.stderr
    for part in expected:
        assert part in last, last
    return last


# --------------------------------------------------------------------------- files


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    assert_one_line_error(cli("--config", missing), f"config file {missing}: does not exist")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"api": "payments",\n "sandbox": true,,}', "is not valid JSON: Expecting property name"),
        ("", "is empty"),
        ('["api"]', "must hold a JSON object, not a list"),
    ],
)
def test_a_malformed_config_file_is_named_with_the_position(
    tmp_path: Path, text: str, problem: str
) -> None:
    config = _write(tmp_path / "config.json", text)
    last = assert_one_line_error(cli("--config", config), f"config file {config}: {problem}")
    if "JSON:" in problem:
        assert last.endswith("at line 2, column 18")


def test_a_config_directory_is_named(tmp_path: Path) -> None:
    assert_one_line_error(cli("--config", str(tmp_path)), "is a directory")


@pytest.mark.parametrize("kind", ["state", "catalog"])
def test_a_malformed_state_or_catalog_file_is_named_with_the_position(
    tmp_path: Path, kind: str
) -> None:
    config = _write(tmp_path / "config.json", json.dumps({"api": "payments", "sandbox": True}))
    broken = _write(tmp_path / f"{kind}.json", '{"bookmarks": {"customers": }}')
    assert_one_line_error(
        cli("--config", config, f"--{kind}", broken),
        f"{kind} file {broken}: is not valid JSON: Expecting value at line 1, column 29",
    )
    missing = str(tmp_path / f"no-{kind}.json")
    assert_one_line_error(
        cli("--config", config, f"--{kind}", missing), f"{kind} file {missing}: does not exist"
    )


def test_good_state_and_catalog_files_still_work(tmp_path: Path) -> None:
    with SandboxServer(api="billing") as server:
        config = {**server.tap_config(), "backoff_factor": 0.01}
        discovered = run_cli(config, tmp_path, "--discover")
        assert discovered.returncode == 0, discovered.stderr
        catalog = _write(tmp_path / "catalog.json", discovered.stdout)
        state = _write(tmp_path / "state.json", json.dumps({"bookmarks": {}}))
        result = run_cli(config, tmp_path, "--catalog", catalog, "--state", state)
    assert result.returncode == 0, result.stderr
    assert '"type":"RECORD"' in result.stdout.replace(" ", "")


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("base_url", "api.example.com", "it does not start with http:// or https://"),
        ("base_url", "http://", "it names no host"),
        ("base_url", "https://api.example.com:port/", "Port could not be cast"),
        ("token_url", "id.example.com/token", "it does not start with http:// or https://"),
    ],
)
def test_a_setting_that_is_not_a_url_is_named(
    tmp_path: Path, setting: str, value: str, problem: str
) -> None:
    config = {"api": "payments", "client_id": "a", "client_secret": "b", setting: value}
    result = run_cli(config, tmp_path)
    assert_one_line_error(result, f"setting '{setting}': {value!r} is not a URL (", problem)


def test_a_definition_base_url_that_is_not_a_url_is_named(tmp_path: Path) -> None:
    definition = _write(
        tmp_path / "api.yaml",
        "client:\n  base_url: ${host}/v1\nresources:\n"
        "  - name: things\n    schema: things.json\n    endpoint: {path: /things}\n",
    )
    _write(tmp_path / "things.json", '{"type": "object", "properties": {}}')
    result = run_cli({"api_file": definition, "host": "localhost"}, tmp_path)
    assert_one_line_error(result, f"{definition}: client.base_url: 'localhost/v1' is not a URL")


# --------------------------------------------------------------------------- connection failures


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_names_the_kind_and_the_host(tmp_path: Path) -> None:
    port = _closed_port()
    config = {"api": "billing", "api_key": "k-1234", "base_url": f"http://127.0.0.1:{port}"}
    result = run_cli({**config, "max_retries": 1, "backoff_factor": 0.01}, tmp_path)
    assert_one_line_error(
        result, f"failed: connection refused by 127.0.0.1:{port} (gave up after 1 retries)"
    )


def test_a_timeout_names_the_kind_and_the_host(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = {"api": "billing", "api_key": "k-1234", "base_url": f"http://127.0.0.1:{port}"}
        settings = {"max_retries": 0, "request_timeout": 1}
        result = run_cli({**config, **settings}, tmp_path)
    assert_one_line_error(result, f"timed out waiting for an answer from 127.0.0.1:{port}")


def _wrapped(error: BaseException) -> requests.exceptions.ConnectionError:
    """A failure as requests raises it: the cause a few layers down."""
    try:
        try:
            raise error
        except BaseException as inner:
            raise requests.exceptions.ConnectionError(inner) from inner
    except requests.exceptions.ConnectionError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (socket.gaierror(-2, "Name or service not known"), "host name 'api.test' could not be"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused by api.test:443"),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "connection to api.test:443 dropped",
        ),
        (requests.exceptions.SSLError("certificate verify failed"), "TLS handshake with api.test"),
        (requests.exceptions.ConnectTimeout("connect timeout"), "timed out connecting to api.test"),
    ],
)
def test_connection_failures_say_which_kind_and_which_host(
    error: BaseException, phrase: str
) -> None:
    failure = error if isinstance(error, requests.RequestException) else _wrapped(error)
    assert phrase in connection_failure(failure, "https://user:pw@api.test/v1/x?api_key=s")


# --------------------------------------------------------------------------- the environment


def _shadowing_site(tmp_path: Path, name: str, version: str, module: str) -> Path:
    """A directory that, first on PYTHONPATH, installs ``name`` ``version`` over the real one:
    its distribution metadata and a module that breaks on import, as an incompatible release
    would."""
    site = tmp_path / "site"
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    package = site / module
    package.mkdir()
    (package / "__init__.py").write_text(f"raise ImportError('{module} {version} is too old')\n")
    return site


@pytest.mark.parametrize(
    ("name", "version", "module", "expected"),
    [
        (
            "jsonschema",
            "2.6.0",
            "jsonschema",
            "jsonschema 2.6.0 is installed, but tap-example needs jsonschema>=4.18,<5",
        ),
        ("backoff", "1.11.1", "backoff", "backoff 1.11.1 is installed over python-backoff"),
    ],
)
def test_a_dependency_a_target_replaced_is_one_line_before_anything_crashes(
    tmp_path: Path, name: str, version: str, module: str, expected: str
) -> None:
    site = _shadowing_site(tmp_path, name, version, module)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    config = _write(tmp_path / "config.json", json.dumps({"api": "payments", "sandbox": True}))
    for args in (["--version"], ["--config", config]):
        last = assert_one_line_error(cli(*args, env=env), expected)
        assert "own environments" in last and "pipx" in last and "uv tool" in last
    sandbox = subprocess.run(
        [sys.executable, "-m", "tap_example.sandbox", "--api", "crm"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert sandbox.returncode == 1 and expected in sandbox.stderr


def test_the_dependency_check_passes_here_and_reads_versions() -> None:
    assert dependency_problem() is None
    assert version_tuple("4.18.0rc1") == (4, 18, 0)
    assert version_tuple("2.6") == (2, 6)
    assert version_tuple("1!2.0") == (1,)
