"""Freeze inferred schemas into files: ``python -m tap_example.freeze_schemas --config c.json --out DIR``.

Runs discovery with the given config (so each resource without ``schema`` is inferred from its
first page, exactly as a sync would), writes ``DIR/<stream>.json`` for every such resource and
prints the ``schema:`` line to add to each resource of the definition. Review the files before
committing them: a first page shows what fields *can* hold, not every value they ever will.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tap_example.errors import TapExampleError
from tap_example.tap import TapExample


def freeze(config: dict[str, Any], out: Path, *, force: bool = False) -> dict[str, Path]:
    """Write the inferred schema of every resource without a schema file; return stream -> file."""
    tap = TapExample(config=config, validate_config=True)
    inferred = {r.name for r in tap.definition.resources if r.schema_file is None}
    if not inferred:
        return {}
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, stream in tap.streams.items():
        if name not in inferred:
            continue
        path = out / f"{name}.json"
        if path.exists() and not force:
            msg = f"{path} exists; pass --force to overwrite it"
            raise TapExampleError(msg)
        path.write_text(json.dumps(stream.schema, indent=2) + "\n", encoding="utf-8")
        written[name] = path
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tap_example.freeze_schemas",
        description="Write the schemas discovery infers for a definition's resources to files.",
    )
    parser.add_argument("--config", required=True, help="tap config (JSON) with api_file")
    parser.add_argument("--out", required=True, help="directory for the <stream>.json files")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    try:
        config = json.loads(Path(args.config).read_text(encoding="utf-8"))
        written = freeze(config, Path(args.out), force=args.force)
    except (OSError, ValueError, TapExampleError) as exc:
        print(f"freeze_schemas: error: {exc}", file=sys.stderr)
        return 1
    if not written:
        print("every resource already names a schema file; nothing to freeze")
        return 0
    definition_dir = Path(config["api_file"]).expanduser().resolve().parent
    print(f"wrote {len(written)} schema files; add to each resource of {config['api_file']}:")
    for name, path in written.items():
        relative = os.path.relpath(path.resolve(), definition_dir)
        print(f"  - name: {name}\n    schema: {Path(relative).as_posix()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
