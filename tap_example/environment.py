"""Start-up check of the few installed packages whose versions the tap cannot work without.

Installing a Singer target into the tap's environment can replace them: some targets pin
``jsonschema`` 2.x (the SDK then dies on import) or the old ``backoff`` 1.x, whose files land
over python-backoff's (every connection error then turns into "must be real number, not
NoneType" with a logging traceback). This module runs when ``tap_example`` is imported, before
the SDK is, reads installed versions from package metadata only (no imports, a few
milliseconds), and stops with one line naming the package, the version found and the version
needed, and the fix: each target in its own environment.

It imports nothing from the tap or its dependencies, so it works whatever is broken.
``TAP_EXAMPLE_SKIP_DEPENDENCY_CHECK=1`` skips it (at your own risk).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata

SKIP_VARIABLE = "TAP_EXAMPLE_SKIP_DEPENDENCY_CHECK"


@dataclass(frozen=True)
class Needed:
    """A distribution and the version range the tap needs (``low`` inclusive, ``high`` not)."""

    name: str
    low: tuple[int, ...]
    high: tuple[int, ...]
    spec: str


#: The packages whose version decides whether the tap runs at all (pyproject.toml pins them).
NEEDED = (
    Needed("singer-sdk", (0, 54, 9), (0, 55), "~=0.54.9"),
    Needed("jsonschema", (4, 18), (5,), ">=4.18,<5"),
    Needed("python-backoff", (2, 2, 2), (4,), ">=2.2.2,<4"),
    Needed("requests", (2, 31), (3,), ">=2.31,<3"),
)
#: The old ``backoff`` distribution: any version below this, installed next to python-backoff,
#: has overwritten its module files.
OLD_BACKOFF = ("backoff", (2,))

_ADVICE = (
    "another package installed into this environment (often a Singer target) replaced it. "
    "Install tap-example and each target in their own environments (Meltano does this for "
    "every plugin; or pipx install / uv tool install), then reinstall tap-example here"
)


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric parts of ``version`` (``"4.18.0rc1"`` -> ``(4, 18, 0)``)."""
    parts: list[int] = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() != len(piece):
            break
    return tuple(parts)


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def dependency_problem() -> str | None:
    """One line about the first package at a version the tap cannot work with, or ``None``."""
    for needed in NEEDED:
        found = _installed(needed.name)
        if found is None:
            return (
                f"{needed.name} is not installed, but tap-example needs "
                f"{needed.name}{needed.spec}: {_ADVICE}"
            )
        if not needed.low <= version_tuple(found) < needed.high:
            return (
                f"{needed.name} {found} is installed, but tap-example needs "
                f"{needed.name}{needed.spec}: {_ADVICE}"
            )
    name, below = OLD_BACKOFF
    old = _installed(name)
    if old is not None and version_tuple(old) < below:
        return (
            f"backoff {old} is installed over python-backoff, but tap-example needs "
            f"python-backoff>=2.2.2 (the `backoff` module of backoff {old} breaks retries; "
            "`pip uninstall -y backoff && pip install --force-reinstall python-backoff` repairs "
            f"this environment): {_ADVICE}"
        )
    return None


def require_compatible_dependencies() -> None:
    """Stop the process with one line on stderr (exit code 1) if a dependency is wrong."""
    if os.environ.get(SKIP_VARIABLE, "").strip() not in ("", "0"):
        return
    problem = dependency_problem()
    if problem is not None:
        sys.stderr.write(f"tap-example: error: {problem}\n")
        raise SystemExit(1)
