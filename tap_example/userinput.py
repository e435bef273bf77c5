"""What the user hands the tap: the files the command line names (``--config``, ``--state``,
``--catalog``) and settings that must be URLs or positive numbers.

Every mistake is a :class:`~tap_example.errors.ConfigError` of one line naming the file or the
setting and what is wrong with it (for JSON, where: line and column), so the command line ends
with that line and exit code 1 instead of a traceback asking for a bug report.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from typing_extensions import override

from tap_example.errors import ConfigError


def read_json_object(path: str, kind: str) -> str:
    """The text of the ``kind`` file (config, state, catalog) at ``path``, checked to be a JSON
    object; a :class:`ConfigError` naming the file and the problem otherwise."""
    where = f"{kind} file {path}"
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a directory, not a JSON file") from None
    except PermissionError:
        raise ConfigError(f"{where}: cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if not text.strip():
        raise ConfigError(f"{where}: is empty (expected a JSON object)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{where}: is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise ConfigError(msg) from None
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: must hold a JSON object, not a {_json_type(document)}")
    return text


def _json_type(value: Any) -> str:
    names = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def check_config_files(paths: Iterable[str]) -> None:
    """Each ``--config`` value that is a file (not ``ENV``) exists and holds a JSON object."""
    for path in paths:
        if path != "ENV":
            read_json_object(path, "config")


class JSONObjectFile(click.ParamType):  # type: ignore[type-arg]
    """A ``--state``/``--catalog`` file: read and checked at once, handed on as a text stream
    (what the SDK reads from ``click.File``)."""

    name = "file"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    @override
    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if hasattr(value, "read"):  # already a stream
            return value
        return io.StringIO(read_json_object(str(value), self.kind))


def check_file_options(command: click.Command) -> None:
    """Make the command's ``--state`` and ``--catalog`` options report bad files in one line."""
    for param in command.params:
        if param.name in ("state", "catalog"):
            param.type = JSONObjectFile(param.name)


def check_url(value: Any, where: str) -> None:
    """``value`` is an absolute http(s) URL with a host; else a one-line error naming ``where``."""
    problem = _url_problem(value.strip() if isinstance(value, str) else "")
    if problem is not None:
        msg = f"{where}: {value!r} is not a URL ({problem}); expected one like https://api.example.com/v1"
        raise ConfigError(msg)


def _url_problem(text: str) -> str | None:
    try:
        parts = urlsplit(text)
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        return str(exc)
    if parts.scheme.lower() not in ("http", "https"):
        return "it does not start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    if any(character.isspace() for character in text):
        return "it contains spaces"
    return None


def check_settings(settings: dict[str, Any]) -> None:
    """The settings whose shape the schema cannot check: URLs, the request budget, the token
    store directory. Numbers given as strings (environment variables) are converted."""
    for name in ("base_url", "token_url"):
        if settings.get(name):
            check_url(settings[name], f"setting '{name}'")
    rate = settings.get("max_requests_per_second")
    if rate is not None:
        try:
            number = float(rate) if not isinstance(rate, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not (number > 0 and math.isfinite(number)):
            msg = f"setting 'max_requests_per_second': must be a positive number, not {rate!r}"
            raise ConfigError(msg)
        settings["max_requests_per_second"] = number
    store = settings.get("token_store_dir")
    if store is not None and not isinstance(store, str):
        msg = f"setting 'token_store_dir': must be a directory path or 'off', not {store!r}"
        raise ConfigError(msg)
