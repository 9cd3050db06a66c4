"""The import direction of docs/architecture.md: each layer imports only the layers below it,
and the pure stages import no I/O library. Read from the source, nothing is imported."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MAY_IMPORT = {
    "schemas": set(),
    "sinks": {"schemas"},
    "streams.pipeline": {"schemas"},
    "streams.runtime": {"schemas", "sinks", "streams.pipeline"},
    "streams.tools": {"schemas", "sinks", "streams.pipeline", "streams.runtime"},
    "streams.app": {"schemas", "sinks", "streams.pipeline", "streams.runtime"},
    "streams.worker": {"schemas", "sinks", "streams.runtime", "streams.app"},
    "streams.cli": {"schemas", "sinks", "streams.pipeline", "streams.runtime", "streams.tools", "streams.worker"},
}
IO_LIBRARIES = {
    "faust",
    "mode",
    "aiokafka",
    "clickhouse_connect",
    "chdb",
    "rocksdict",
    "httpx",
    "requests",
    "socket",
    "yaml",
}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in ("schemas", "sinks"):
        return parts[0]
    if parts[0] == "streams" and len(parts) > 1:
        return f"streams.{parts[1]}"
    return None


def imports() -> list[tuple[str, str]]:
    """(importing module, imported module) for every absolute import of our packages."""
    found = []
    for package in ("schemas", "sinks", "streams"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.append((module, node.module))
                elif isinstance(node, ast.Import):
                    found.extend((module, alias.name) for alias in node.names)
    return found


def test_every_module_belongs_to_a_layer():
    modules = {module for module, _ in imports()}
    assert modules, "no modules found"
    assert {m for m in modules if layer(m) not in MAY_IMPORT} <= {"streams"}


@pytest.mark.parametrize("source", sorted(MAY_IMPORT))
def test_a_layer_imports_only_the_layers_below_it(source):
    wrong = sorted(
        f"{module} imports {imported}"
        for module, imported in imports()
        if layer(module) == source
        and layer(imported) not in (None, source)
        and layer(imported) not in MAY_IMPORT[source]
    )
    assert wrong == []


def test_the_pure_stages_import_no_io_library():
    wrong = sorted(
        f"{module} imports {imported}"
        for module, imported in imports()
        if layer(module) == "streams.pipeline" and imported.split(".")[0] in IO_LIBRARIES
    )
    assert wrong == []
