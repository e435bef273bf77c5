"""Settings the tap does not know: a typo (``start_dat``) is said, with the closest known name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def unknown_settings(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One line per key of ``config`` that is not in ``known``, naming the closest known setting.

    ``known`` is every setting of the tap plus the ``${name}`` placeholders of the definition
    (a user definition may read any key of the config).
    """
    names = sorted(set(known))
    lines = []
    for name in sorted(set(config) - set(names)):
        import difflib  # imported only when there is a typo to explain

        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        lines.append(f"setting '{name}' is not a setting of tap-example and is ignored{hint}")
    return lines


__all__ = ["unknown_settings"]
