"""The layer order of `interlink`'s packages, pinned: every import points down.

The order and the reasons are in docs/architecture.md.

Every import statement counts, including those under ``if TYPE_CHECKING:`` and those inside
functions, since each is a dependency someone has to understand.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Top to bottom; names in one tuple are peers, which do not import each other. A package is a
# folder of src/interlink, a top-level module is its own unit, and "interlink" is the package's
# own __init__ (the version and the native guard).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "admin", "_build_native"),  # the process and its build: nothing imports them
    ("examples",),  # the example estate's companions, which `interlink demo` runs
    ("testing",),  # shipped helpers for tests and the demo: above what they exercise
    ("runtime",),
    ("gateway",),  # imports events: a publish route puts the request on the mesh
    ("flows", "products", "alerts"),  # alerts: verdicts told to teams over their channels
    ("connectors",),  # how flows reach databases (later brokers, files, mail)
    ("events",),
    ("leases",),  # work owned through leases in the store: delivery, reconcile, schedules
    ("observe", "contracts", "sdk"),
    ("http",),  # a System's credentials, from its estate object, ride on every call to it
    ("vault",),  # the encrypted secret store over the store; `${secret:…}` ends in it
    ("estate", "store", "problems"),
    ("expressions",),  # JSONata behind one facade: estate's check, events' filters, flows
    ("interlink",),
    ("errors", "tasks", "_native"),  # _native runs before anything else is imported
)

# Peer imports that are part of the design, each with its reason.
PEERS = {("cli", "admin"): "the CLI assembles the process: it builds the admin app serve runs"}


def _modules(src: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((src / "interlink").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _targets(node: ast.Import | ast.ImportFrom, module: str, modules: dict[str, Path]) -> list[str]:
    """The modules an import statement loads: for `from a import b`, a.b if it is one, else a."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if modules[module].name != "__init__.py":
            package.pop()
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    submodules = [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in submodules if name in modules] or [base]


def imports(src: Path) -> Iterator[tuple[str, int, str, str]]:
    """(file, line, importing unit, imported module) for each import of another unit."""
    modules = _modules(src)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, module, modules):
                if target.split(".")[0] == "interlink" and _unit(target) != _unit(module):
                    yield (
                        f"src/{path.relative_to(src).as_posix()}",
                        node.lineno,
                        _unit(module),
                        target,
                    )


def violations(src: Path) -> list[str]:
    level = {unit: i for i, peers in enumerate(LAYERS) for unit in peers}
    out = []
    for unit in sorted({_unit(m) for m in _modules(src)} - level.keys()):
        out.append(f"src/interlink/{unit}: not in LAYERS; give it a layer")
    for where, line, unit, target in imports(src):
        above, below = unit, _unit(target)
        if above not in level or below not in level or level[above] < level[below]:
            continue
        if (above, below) in PEERS:
            continue
        relation = "its peer" if level[above] == level[below] else "a layer above it"
        out.append(f"{where}:{line}: {above} imports {target}, in {relation} ({below})")
    return out


def package_cycles(src: Path) -> list[list[str]]:
    """Cycles in the graph of units: a depth-first search, which finds one wherever there is any."""
    edges: dict[str, set[str]] = {}
    for _, _, unit, target in imports(src):
        edges.setdefault(unit, set()).add(_unit(target))
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> None:
        if unit in path:
            cycles.append([*path[path.index(unit) :], unit])
            return
        if unit in done:
            return
        for nxt in sorted(edges.get(unit, ())):
            visit(nxt, [*path, unit])
        done.add(unit)

    for unit in sorted(edges):
        visit(unit, [])
    return cycles


def test_every_import_points_down_the_layers() -> None:
    assert violations(SRC) == []


def test_no_package_imports_itself_through_others() -> None:
    assert package_cycles(SRC) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "interlink" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_an_upward_import_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from interlink.estate.findings import Finding\n",
            "estate/__init__.py": "",
            "estate/findings.py": "def f():\n    from interlink import gateway\n",
            "gateway/__init__.py": "from ..estate import findings\n",
            "store/__init__.py": "import interlink.problems\n",
            "problems.py": "",
        },
    )
    assert violations(src) == [
        "src/interlink/errors.py:3: errors imports interlink.estate.findings, "
        "in a layer above it (estate)",
        "src/interlink/estate/findings.py:2: estate imports interlink.gateway, "
        "in a layer above it (gateway)",
        "src/interlink/store/__init__.py:1: store imports interlink.problems, "
        "in its peer (problems)",
    ]


def test_a_package_outside_the_layers_must_be_placed(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"__init__.py": "", "mystery/__init__.py": ""})
    assert violations(src) == ["src/interlink/mystery: not in LAYERS; give it a layer"]


def test_a_cycle_between_packages_is_found(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "cli/__init__.py": "from interlink.admin import app\n",
            "admin/__init__.py": "",
            "admin/app.py": "def f():\n    import interlink.cli\n",
        },
    )
    assert package_cycles(src) == [["admin", "cli", "admin"]]
