"""The house plan holds: docs/ARCHITECTURE.md's module table is checked against the code.

The table is the one source of truth. Each row places a module in a layer, names the
modules of its own layer it may use, and the third-party libraries it owns. A module may
import from lower layers, from the siblings its row names, and no third-party library that
another module owns; every module in monitor/ must have a row, and every row a module.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import ROOT

PACKAGE = ROOT / "monitor"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
ROW = re.compile(r"^\|\s*`(monitor/[\w/]+\.py)`\s*\|\s*(\d+)\s*\|(.*)\|(.*)\|(.*)\|\s*$")


@dataclass(frozen=True)
class Place:
    layer: int
    uses: frozenset[str]
    owns: frozenset[str]


def _names(cell: str) -> frozenset[str]:
    return frozenset(re.findall(r"`([\w./]+)`", cell))


def plan(text: str) -> dict[str, Place]:
    """The module table: module name (monitor.x.y) -> its place."""
    places: dict[str, Place] = {}
    for line in text.splitlines():
        row = ROW.match(line)
        if row is None:
            continue
        path, layer, _job, uses, owns = row.groups()
        uses_modules = frozenset(_module_name(u) for u in _names(uses))
        places[_module_name(path)] = Place(int(layer), uses_modules, _names(owns))
    return places


def _module_name(path: str) -> str:
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {
        _module_name(str(path.relative_to(root.parent))): path
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The monitor module an import names (``from monitor import poll`` names monitor.poll)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, lazy ones inside functions included;
    monitor modules are resolved, third-party ones given by their top-level name."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, _resolve(alias.name, known)) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "monitor" or node.module.startswith("monitor."):
                for alias in node.names:
                    out.append((node.lineno, _resolve(f"{node.module}.{alias.name}", known)))
            else:
                out.append((node.lineno, node.module))
    return out


def violations(places: dict[str, Place], known: dict[str, Path], base: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for name in sorted(set(known) - set(places)):
        problems.append(f"{name}: not placed in docs/ARCHITECTURE.md's module table")
    for name in sorted(set(places) - set(known)):
        problems.append(f"{name}: in docs/ARCHITECTURE.md's module table but not in monitor/")
    owners: dict[str, set[str]] = {}
    for name, place in places.items():
        for library in place.owns:
            owners.setdefault(library, set()).add(name)
    for name, path in sorted(known.items()):
        place = places.get(name)
        if place is None:
            continue
        where = path.relative_to(base)
        for line, target in imports(path, known):
            top = target.split(".")[0]
            if top == "monitor":
                other = places.get(target)
                if other is None or target == name or target in place.uses:
                    continue
                if other.layer > place.layer:
                    problems.append(
                        f"{where}:{line}: imports {target} (layer {other.layer}) from layer "
                        f"{place.layer}: imports point down"
                    )
                elif other.layer == place.layer and not _is_parent(target, name):
                    problems.append(
                        f"{where}:{line}: imports its sibling {target}, which its row does "
                        f"not list under 'uses'"
                    )
            elif top in sys.stdlib_module_names and top not in owners:
                continue
            elif top not in owners:
                problems.append(f"{where}:{line}: imports {top}, which no module owns")
            elif name not in owners[top] and not _inside(name, owners[top]):
                problems.append(
                    f"{where}:{line}: imports {top}, which belongs to "
                    f"{', '.join(sorted(owners[top]))}"
                )
    return list(dict.fromkeys(problems))


def _is_parent(package: str, name: str) -> bool:
    """A package's own __init__ (``monitor.store``) is not a sibling of its modules."""
    return name.startswith(package + ".")


def _inside(name: str, owners: set[str]) -> bool:
    """A library owned by a package (``monitor.store``) may be used by its modules."""
    return any(name.startswith(owner + ".") for owner in owners)


def test_the_code_follows_the_plan() -> None:
    problems = violations(plan(DOC.read_text(encoding="utf-8")), modules())
    assert not problems, "\n".join(problems)


def test_the_plan_places_every_layer_once() -> None:
    places = plan(DOC.read_text(encoding="utf-8"))
    assert places["monitor.model"].layer == 0
    assert places["monitor.cli"].layer == max(p.layer for p in places.values())


# ----------------------------------------------------------- the check itself can fail


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = tmp_path / "monitor" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return modules(tmp_path / "monitor")


TABLE = """
| module | layer | job | uses | owns |
| --- | --- | --- | --- | --- |
| `monitor/__init__.py` | 0 | package | | |
| `monitor/model.py` | 0 | records | | |
| `monitor/low.py` | 1 | pure | | `yaml` |
| `monitor/peer.py` | 1 | pure | `monitor/low.py` | |
| `monitor/high.py` | 2 | adapter | | |
"""


def _problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """What the check says of a small package laid out as TABLE places it."""
    known = _tree(tmp_path, {"__init__.py": "", "model.py": "", "peer.py": "", **files})
    return violations(plan(TABLE), known, tmp_path)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {
                "low.py": "from monitor.high import thing\n",
                "peer.py": "from monitor import low\n",
                "high.py": "import monitor.low\n",
            },
            [r"imports monitor\.high \(layer 2\) from layer 1: imports point down"],
            id="an upward import",
        ),
        pytest.param(
            {
                "low.py": "def f():\n    from monitor import peer\n",
                "high.py": "import yaml\nimport somethingelse\n",
                "stray.py": "",
            },
            [
                r"imports its sibling monitor\.peer",
                r"imports yaml, which belongs to monitor\.low",
                r"imports somethingelse, which no module owns",
                r"^monitor\.stray: not placed",
            ],
            id="a sibling not listed, foreign libraries, a module without a row",
        ),
    ],
)
def test_what_breaks_the_plan_is_reported(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    """Each problem expected (a pattern) is reported, and nothing else."""
    problems = _problems(tmp_path, files)
    assert len(problems) == len(expected), problems
    for pattern in expected:
        assert any(re.search(pattern, p) for p in problems), pattern


@pytest.mark.parametrize("limit", [500])
def test_no_module_is_far_over_the_size_limit(limit: int) -> None:
    """About 500 lines a module at most (a little slack for docstrings)."""
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()
    }
    assert {name: n for name, n in sizes.items() if n > limit * 1.1} == {}
