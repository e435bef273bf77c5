"""Regenerate the README's generated sections: the built-in streams table and the settings
reference (from ``tap-example --about --format markdown``).

    python scripts/update_readme.py          # rewrite README.md
    python scripts/update_readme.py --check  # exit 1 if README.md is stale (the tests do this)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from tap_example.definition import BUILTIN_APIS, load_definition

README = Path(__file__).resolve().parent.parent / "README.md"


def streams_table() -> str:
    rows = [
        "| API | stream | method and path | key | replication key | parent |",
        "|:----|:-------|:----------------|:----|:----------------|:-------|",
    ]
    for api in BUILTIN_APIS:
        definition = load_definition(api=api, strict=False)
        for resource in definition.resources:
            keys = ", ".join(resource.primary_key) if resource.write_disposition != "append" else ""
            incremental = resource.incremental
            replication = ""
            if incremental:
                replication = f"`{incremental.cursor_path}`"
                if incremental.start_param:
                    replication += f" (server filter `{incremental.start_param}`)"
                if incremental.row_order:
                    replication += (
                        f", {'newest' if incremental.row_order == 'desc' else 'oldest'} first"
                    )
            parent = ""
            if resource.bindings:
                binding = resource.bindings[0]
                parent = f"`{binding.resource}` (`{binding.placeholder}` = `{binding.field}`)"
            rows.append(
                f"| {api} | `{resource.name}` | `{resource.method} {resource.path}` | "
                f"{f'`{keys}`' if keys else '(none)'} | {replication or 'full table'} | {parent} |"
            )
    return "\n".join(rows)


def settings_reference() -> str:
    about = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tap_example.tap import TapExample; TapExample.cli()",
            "--about",
            "--format",
            "markdown",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    section = about[about.index("## Settings") :]
    section = section.replace("## Settings", "", 1).strip()
    return section


def render(text: str) -> str:
    for name, content in (("streams", streams_table()), ("settings", settings_reference())):
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            msg = f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block"
            raise SystemExit(msg)
        text = pattern.sub(lambda m, c=content: m.group(1) + c + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if README.md is stale")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if args.check:
        if updated != current:
            print("README.md is stale: run python scripts/update_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
