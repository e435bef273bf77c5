"""Rotated refresh tokens kept for the next run: one small file per (token URL, client ID).

An API that rotates its refresh token (crm does) answers every refresh with a new one and stops
accepting the old one. The configuration still holds the old one, and Meltano (or cron) starts
the next run with that configuration, so the token the run ended with must be kept where the next
run finds it. :class:`TokenStore` writes it atomically (a temporary file renamed over the old
one) with mode 0600 in a directory of mode 0700, under the user's state directory by default
(``$XDG_STATE_HOME/tap-example/tokens``, else ``~/.local/state/tap-example/tokens``; the
``token_store_dir`` setting moves it, ``off`` or an empty value disables it).

A stored token is used only while the configuration still holds the refresh token the stored
chain started from (the file keeps its SHA-256, never the token itself): a new token put into the
configuration (a re-authorisation) wins over the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tap_example.errors import ConfigError

#: Values of ``token_store_dir`` that turn the store off.
DISABLED = frozenset({"", "off", "none", "false", "disabled"})


def default_directory(environ: Mapping[str, str] | None = None) -> Path:
    """The user's state directory for tap-example's tokens (platformdirs' ``user_state_dir``)."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "tap-example" / "tokens"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "tap-example" / "tokens"
    state_home = env.get("XDG_STATE_HOME", "").strip()
    base = Path(state_home) if state_home else Path.home() / ".local" / "state"
    return base / "tap-example" / "tokens"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class StoredToken:
    """A refresh token kept by an earlier run."""

    refresh_token: str
    saved_at: str
    path: Path


class TokenStore:
    """Refresh tokens by (token URL, client ID), each in its own file under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def from_setting(cls, value: Any) -> TokenStore | None:
        """The store the ``token_store_dir`` setting asks for (``None``: the default place;
        ``off`` or empty: no store)."""
        if value is None:
            return cls(default_directory())
        if not isinstance(value, str):
            raise ConfigError(f"setting 'token_store_dir': must be a directory path, not {value!r}")
        if value.strip().lower() in DISABLED:
            return None
        return cls(Path(value).expanduser())

    def path_for(self, token_url: str, client_id: str) -> Path:
        key = _digest(token_url + "\n" + client_id)[:32]
        return self.directory / f"{key}.json"

    def load(self, token_url: str, client_id: str, configured: str | None) -> StoredToken | None:
        """The token an earlier run kept, if it continues the chain ``configured`` started."""
        path = self.path_for(token_url, client_id)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # none yet, or unreadable: the configured token is used
        if not isinstance(document, dict):
            return None
        token = document.get("refresh_token")
        if not isinstance(token, str) or not token or token == configured:
            return None
        if configured is not None and document.get("replaces") != _digest(configured):
            return None  # the configuration holds a newer token than the chain stored here
        return StoredToken(token, str(document.get("saved_at") or "?"), path)

    def save(self, token_url: str, client_id: str, token: str, *, replaces: str | None) -> Path:
        """Keep ``token`` for the next run (atomically, readable by the owner only).

        ``replaces`` is the configured refresh token the chain started from; its digest is kept
        so a different configured token later is recognised as newer.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path_for(token_url, client_id)
        document = {
            "token_url": token_url,
            "client_id": client_id,
            "refresh_token": token,
            "replaces": _digest(replaces) if replaces else None,
            "saved_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".token-", text=True)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
                json.dump(document, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return path
