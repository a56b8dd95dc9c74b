"""The shape of the code, checked like behaviour (issue 14): no import cycle between modules
(imports inside functions count), no module past 600 lines, and the apps' one-way layers of
pyproject.toml (import-linter, also run by `make test`)."""

from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "accounts", "sheets", "realtime", "analytics")
MAX_LINES = 600


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, include_external_packages=False)


def _cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(start):
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.find_modules_directly_imported_by(successor)))))
                    break
                if successor in on_stack:
                    low[module] = min(low[module], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def _is_facade(graph, module, component):
    """A package's __init__ that only re-exports its own modules closes no real cycle."""
    return any(other.startswith(module + ".") for other in component)


def test_no_import_cycle_between_modules(graph):
    cycles = []
    for component in _cycles(graph):
        real = [m for m in component if not _is_facade(graph, m, component)]
        if len(real) > 1:
            cycles.append(component)
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    for name, body in {"a.py": "from . import b\n", "b.py": "from . import a\n", "c.py": "from . import a\n"}.items():
        (tmp_path / "cyclic").mkdir(exist_ok=True)
        (tmp_path / "cyclic" / "__init__.py").write_text("")
        (tmp_path / "cyclic" / name).write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("cyclic", include_external_packages=False, cache_dir=None)) == [
        ["cyclic.a", "cyclic.b"]
    ]


def test_no_module_is_longer_than_600_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _unannotated(path):
    """Public functions of a module (module level, and methods of its own plain classes) whose
    signature lacks a type: an argument other than self/cls, or the return."""
    import ast

    tree = ast.parse(path.read_text())
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.bases:
            functions += [f for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for function in functions:
        if function.name.startswith("_"):
            continue
        arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
        missing = [a.arg for a in arguments if a.annotation is None and a.arg not in ("self", "cls")]
        if missing or function.returns is None:
            yield f"{function.name}({', '.join(missing)}){'' if function.returns else ' -> ?'}"


def test_public_functions_have_typed_signatures():
    """Services, selectors and every public function say what they take and give."""
    untyped = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if {"migrations", "management"} & set(path.parts):
                continue
            found = list(_unannotated(path))
            if found:
                untyped[str(path.relative_to(ROOT))] = found
    assert untyped == {}
