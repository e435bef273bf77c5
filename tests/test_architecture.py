"""The engine's shape, kept by tests (see docs/architecture.md).

- no import cycle between tap_example modules;
- the definition model imports no runtime (engine, SDK, network);
- concurrency knows streams only through its Protocol;
- no state kept under ``__dict__`` keys;
- no class over 300 lines, no function over 80;
- private singer_sdk names only in ``tap_example/sdk_compat.py``;
- every SDK hook the adapter overrides is marked ``@override``.
"""

from __future__ import annotations

import ast
import graphlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.authenticators import APIAuthenticatorBase, OAuthAuthenticator
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.plugin_base import PluginBase

import tap_example
from tap_example.streams import DefinitionStream

PACKAGE = Path(tap_example.__file__).resolve().parent
SDK_COMPAT = PACKAGE / "sdk_compat.py"
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 80


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"))


def imported_modules(name: str, tree: ast.Module, *, runtime_only: bool) -> set[str]:
    """Modules ``name`` imports (``import x``/``from x import y``), resolved to full names."""
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                package = name.split(".")[: -node.level]
                base = ".".join([*package, node.module])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_import_cycle_between_tap_example_modules() -> None:
    known = {name for name, _, _ in modules()}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, _, tree in modules():
        imports = imported_modules(name, tree, runtime_only=False) & known
        # A package's __init__ re-exports its own modules; that is not a cycle.
        sorter.add(name, *(m for m in imports if m != name and not name.startswith(m + ".")))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "tap_example.definition",
            (
                "tap_example.engine",
                "tap_example.streams",
                "tap_example.tap",
                "singer_sdk",
                "requests",
            ),
        ),
        (
            "tap_example.engine.concurrency",
            ("tap_example.streams", "tap_example.tap", "singer_sdk"),
        ),
        ("tap_example.engine", ("tap_example.streams", "tap_example.tap", "tap_example.sandbox")),
    ],
)
def test_layers_import_only_downwards(package: str, forbidden: tuple[str, ...]) -> None:
    for name, path, tree in modules():
        if name != package and not name.startswith(package + "."):
            continue
        for imported in imported_modules(name, tree, runtime_only=False):
            assert not imported.startswith(forbidden), f"{path.name} imports {imported}"


def test_no_state_under_dict_keys() -> None:
    for _, path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "__dict__":
                pytest.fail(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} uses __dict__")


def test_no_class_or_function_is_too_long() -> None:
    too_long = []
    for _, path, tree in modules():
        for node in ast.walk(tree):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            if isinstance(node, ast.ClassDef) and size > MAX_CLASS_LINES:
                too_long.append(f"class {node.name} ({path.name}): {size} lines")
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and size > MAX_FUNCTION_LINES
            ):
                too_long.append(f"function {node.name} ({path.name}): {size} lines")
    assert not too_long


def sdk_private_names() -> set[str]:
    """Single-underscore names the SDK's base classes define or set on ``self``."""
    names: set[str] = set()
    for cls in (
        Stream,
        RESTStream,
        Tap,
        PluginBase,
        BaseAPIPaginator,
        APIAuthenticatorBase,
        OAuthAuthenticator,
    ):
        for klass in cls.__mro__:
            if not klass.__module__.startswith("singer_sdk"):
                continue
            names.update(n for n in vars(klass) if n.startswith("_") and not n.startswith("__"))
            source = inspect.getsource(klass)
            for node in ast.walk(ast.parse(source)):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                ):
                    names.add(node.attr)
    return names


def test_private_sdk_names_only_in_sdk_compat() -> None:
    private = sdk_private_names()
    assert {"_tap", "_request", "_finished", "_oauth_headers"} <= private  # the scan works
    offences = []
    for _, path, tree in modules():
        if path == SDK_COMPAT:
            continue
        for node in ast.walk(tree):
            where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
                module_parts = (node.module or "").split(".")
                names = [alias.name for alias in node.names]
                if any(p.startswith("_") for p in module_parts + names):
                    offences.append(f"{where}: from {node.module} import {', '.join(names)}")
            elif isinstance(node, ast.Attribute) and node.attr in private:
                offences.append(f"{where}: .{node.attr}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in private:
                offences.append(f"{where}: def {node.name}")
    assert not offences, "private singer_sdk names outside sdk_compat.py: " + "; ".join(offences)


def test_every_sdk_hook_the_adapter_overrides_is_marked() -> None:
    unmarked = []
    adapter = [c for c in DefinitionStream.__mro__ if c.__module__.startswith("tap_example")]
    for cls in adapter:
        bases = cls.__mro__[1:]
        for name, member in vars(cls).items():
            function = member.fget if isinstance(member, property) else member
            if not callable(function) or name.startswith("__"):
                continue
            overrides = any(name in vars(base) for base in bases)
            if overrides and not getattr(function, "__override__", False):
                unmarked.append(f"{cls.__name__}.{name}")
    assert len(adapter) >= 3  # the adapter's classes and sdk_compat's mixin
    assert not unmarked, f"overrides without @override: {unmarked}"
