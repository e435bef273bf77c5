#!/usr/bin/env bash
# README command 2: install everything the tests need into .venv, then run the quality gates
# (ruff lint + format check, mypy) and the whole pytest suite, offline against the sandbox.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -k crm          # extra arguments go to pytest
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh"

ensure_venv
step "installing the project with its dev extra, Meltano and the DuckDB loader fix into .venv"
"$VENV/bin/python" -m pip install --quiet -e '.[dev]' "$MELTANO_SPEC" -e ./plugins/target-duckdb-lossless

step "ruff check"
"$VENV/bin/ruff" check .
step "ruff format --check"
"$VENV/bin/ruff" format --check .
step "mypy tap_example tests"
"$VENV/bin/mypy" tap_example tests

step "pytest"
"$VENV/bin/python" -m pytest "$@"
