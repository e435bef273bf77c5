"""Every documented shell command works as written, on a fresh clone, in the order shown.

The commands are read from the documents themselves, so the docs cannot rot:

- ``meltano.yml``: the comment lines written as ``#   $ <command>`` (consecutive lines are one
  block);
- ``README.md`` and ``docs/*.md``: fenced ``bash``/``sh``/``shell`` blocks, in order; a ``yaml``
  block whose first line is ``# meltano.yml`` is what the reader adds to ``meltano.yml`` there, and
  is merged into it at that point.

They run with ``bash -euo pipefail`` in a fresh copy of the project (the files git tracks or would
track: no ``.venv``, no ``.meltano``, no ``output/``), with this test environment's executables
(``tap-example``, ``meltano``, ...) first on ``PATH``, one document after another in one copy,
each block bounded in time. A block that needs something outside this machine or would redo what
the test environment is (an install into it, the test suite itself) is not run: ``NOT_RUN`` names
each such command and why, and a rule that matches no command any more fails the test.

``meltano install`` here installs the project's own plugins into the copy's ``.meltano`` (from the
package index the first time, then from uv's cache: seconds); everything else talks to 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
MELTANO_YML = "meltano.yml"
BLOCK_TIMEOUT_S = 600

#: (pattern a command line matches, why its block is not run). Each must match some command.
NOT_RUN: list[tuple[str, str]] = [
    (
        r"^(TAP_EXAMPLE_API=\w+ )?scripts/demo\.sh\b",
        "installs the project into .venv from the package index; its Meltano steps are the "
        "`meltano install` / `meltano run` commands run here, and tests/test_meltano_e2e.py",
    ),
    (r"^scripts/test\.sh\b", "is this test suite (CI runs it as .ci/run)"),
    (
        r"^pip install -e \.",
        "would re-install the tap into the environment running these tests, which has it",
    ),
    (
        r"pip install target-jsonl|bin/target-jsonl",
        "installs target-jsonl from the package index (checked by hand: first run, then a run "
        "with the state the target printed)",
    ),
    (
        r"meltano run tap-example target-(jsonl|postgres)",
        "needs target-jsonl / target-postgres from the package index and a PostgreSQL server "
        "(the settings Meltano hands the loader are checked by `meltano config list` above)",
    ),
    (
        r"^python benchmarks/run\.py\b",
        "runs six minutes and installs peers from the package index; `--quick` is run by "
        "tests/test_benchmarks_smoke.py",
    ),
]

#: (a command line containing this, a text its output must contain): the point of the command.
EXPECTED_OUTPUT: list[tuple[str, str]] = [
    ("meltano config list target-postgres", "from the TARGET_POSTGRES_PASSWORD variable"),
    ("meltano select tap-example --list", "[selected   ] customers.email"),
    ("meltano config list tap-example", "api [env: TAP_EXAMPLE_API] current value: 'payments'"),
    ("tap-example --about --format markdown", "| metrics_log_level |"),
]


@dataclass
class Block:
    """One documented block: shell commands, or an addition to meltano.yml."""

    source: str
    line: int
    text: str
    kind: str  # "shell" | "meltano.yml"
    skipped: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def commands(self) -> list[str]:
        """The command lines, continuation lines joined, comments dropped."""
        joined = self.text.replace("\\\n", " ")
        lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in joined.splitlines()]
        return [line for line in lines if line and not line.startswith("#")]


def markdown_blocks(source: str) -> list[Block]:
    blocks = []
    lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
    fence: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        if fence is None:
            match = re.match(r"^```(\w*)\s*$", line)
            if match:
                fence, start, body = match.group(1), number, []
            continue
        if line.strip() != "```":
            body.append(line)
            continue
        text = "\n".join(body) + "\n"
        if fence in ("bash", "sh", "shell"):
            blocks.append(Block(source, start, text, "shell"))
        elif fence == "yaml" and body and body[0].startswith("# meltano.yml"):
            blocks.append(Block(source, start, text, "meltano.yml"))
        fence = None
    return blocks


def meltano_yml_blocks() -> list[Block]:
    blocks: list[Block] = []
    previous = -1
    for number, line in enumerate((ROOT / MELTANO_YML).read_text().splitlines(), 1):
        match = re.match(r"^#\s+\$ (.+)$", line)
        if not match:
            continue
        if previous == number - 1:
            blocks[-1].text += match.group(1) + "\n"
        else:
            blocks.append(Block(MELTANO_YML, number, match.group(1) + "\n", "shell"))
        previous = number
    return blocks


def documented_blocks() -> list[Block]:
    """meltano.yml's own commands first (the README's additions to meltano.yml come later)."""
    blocks = meltano_yml_blocks()
    blocks += [block for source in DOCUMENTS for block in markdown_blocks(source)]
    for block in blocks:
        for command in block.commands() if block.kind == "shell" else []:
            block.skipped += [why for pattern, why in NOT_RUN if re.search(pattern, command)]
    return blocks


def fresh_clone(destination: Path) -> Path:
    """The files a clone of the working tree would have (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def merge_into_meltano_yml(project: Path, block: Block) -> None:
    """Add a documented ``plugins:`` snippet to the project's meltano.yml (by plugin name)."""
    path = project / MELTANO_YML
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    addition: dict[str, Any] = yaml.safe_load(block.text)
    for kind, plugins in addition["plugins"].items():
        existing = document["plugins"].setdefault(kind, [])
        names = [plugin["name"] for plugin in plugins]
        existing[:] = [p for p in existing if p["name"] not in names] + plugins
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def command_environment() -> dict[str, str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_EXAMPLE_", "TARGET_", "MELTANO_")) and k != "VIRTUAL_ENV"
    }
    bin_dir = str(Path(sys.executable).parent)
    environment["PATH"] = bin_dir + os.pathsep + environment.get("PATH", "")
    environment["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    environment["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "true"
    return environment


def run_block(project: Path, block: Block) -> str:
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.text],
            cwd=project,
            env=command_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.where}: did not finish within {BLOCK_TIMEOUT_S} s:\n{block.text}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{block.where}: the documented commands failed (exit {result.returncode}):\n"
        f"{block.text}\n--- output ---\n{output[-6000:]}"
    )
    return output


def test_the_block_extraction_finds_the_documented_commands() -> None:
    blocks = documented_blocks()
    commands = [c for b in blocks if b.kind == "shell" for c in b.commands()]
    readme = [c.split()[0] for b in blocks if b.source == "README.md" for c in b.commands()]
    assert readme[:2] == ["scripts/demo.sh", "scripts/test.sh"]
    assert "meltano run tap-example target-duckdb" in commands
    assert "meltano install" in commands
    assert any(b.source == MELTANO_YML for b in blocks)
    assert any(b.kind == "meltano.yml" for b in blocks)
    for pattern, why in NOT_RUN:
        assert any(re.search(pattern, c) for c in commands), (
            f"stale NOT_RUN rule {pattern!r} ({why})"
        )


@pytest.mark.skipif(shutil.which("bash") is None, reason="the documented commands are bash")
def test_every_documented_command_works_on_a_fresh_clone(tmp_path: Path) -> None:
    if not (Path(sys.executable).parent / "meltano").exists() and not shutil.which("meltano"):
        pytest.skip("meltano is not installed (scripts/test.sh installs it into .venv)")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the fresh copy is made of the files git tracks")
    project = fresh_clone(tmp_path / "tap-example")
    assert not (project / "output").exists() and not (project / ".meltano").exists()
    outputs: list[tuple[Block, str]] = []
    ran = 0
    for block in documented_blocks():
        if block.kind == "meltano.yml":
            merge_into_meltano_yml(project, block)
        elif not block.skipped:
            outputs.append((block, run_block(project, block)))
            ran += 1
    assert ran >= 7, f"only {ran} documented blocks ran"

    for needle, expected in EXPECTED_OUTPUT:
        found = [(b, out) for b, out in outputs if any(needle in c for c in b.commands())]
        assert found, f"no documented command runs {needle!r}"
        for block, output in found:
            assert expected in output, f"{block.where}: {needle!r} did not say {expected!r}"

    # Each API chosen through TAP_EXAMPLE_API kept its own state ID (state_id_suffix).
    states = subprocess.run(
        ["meltano", "state", "list"],
        cwd=project,
        env=command_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert {
        "dev:tap-example-to-target-duckdb",  # payments, the dev environment's own API
        "dev:tap-example-to-target-duckdb:billing",
        "dev:tap-example-to-target-duckdb:crm",
        "billing:tap-example-to-target-duckdb",
        "clinical:tap-example-to-target-duckdb",
    } <= set(states), states

    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(str(project / "output" / "warehouse.duckdb"), read_only=True)
    try:
        schemas = {
            name
            for (name,) in con.execute(
                "SELECT DISTINCT table_schema FROM information_schema.tables"
            ).fetchall()
        }
    finally:
        con.close()
    # `meltano run` in dev (payments), --environment=billing/clinical, TAP_EXAMPLE_API=crm
    assert {"payments", "billing", "crm", "clinical"} <= schemas
