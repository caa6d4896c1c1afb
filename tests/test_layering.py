"""Hygiene: modules import only downward in the layer order, and the public names exist.

Layers (docs/architecture.md): expr (1) -> primitives (2) -> jit (3) -> series (4) -> taylor (5)
-> model (6) -> the top-level package, which only re-exports. (The sketch in shared/ put series
below jit; the gduals' product kernel is compiled, so series sits above it.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import taylorjit as tj

PACKAGE = Path(tj.__file__).parent
LAYERS = {"_expr": 1, "_primitives": 2, "_jit": 3, "_series": 4, "_taylor": 5, "model": 6}

# The names of ../shared/API.md that exist so far (later issues extend this list).
PUBLIC = """make_vars var par time diff diff_tensors subs get_variables get_params from_sympy to_sympy
cfunc sin cos tan asin acos atan atan2 sinh cosh tanh asinh acosh atanh exp log sqrt square pow
erf kepE gdual derivatives invert_map compile_map taylor_adaptive taylor_outcome model
t_event nt_event event_direction var_ode_sys var_args""".split()


def layer_of(module: str) -> int | None:
    """Layer of a dotted module name inside taylorjit (None for the package's top level)."""
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def imported_modules(path: Path, module: str) -> list[str]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                found.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module and node.module.startswith("taylorjit"):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("taylorjit"))
    return found


def all_modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((path, ".".join(parts)))
    return out


@pytest.mark.parametrize(("path", "module"), all_modules(), ids=lambda v: str(v))
def test_imports_only_go_down_the_layers(path, module):
    own = layer_of(module)
    if own is None:
        return  # the top-level package and __main__ may import everything
    for target in imported_modules(path, module):
        other = layer_of(target)
        assert other is not None, f"{module} imports the top-level package ({target})"
        assert other <= own, f"{module} (layer {own}) imports {target} (layer {other})"


def test_public_names_exist_and_are_exported():
    for name in PUBLIC:
        assert hasattr(tj, name), name
        assert name in tj.__all__, name
    for name in tj.__all__:
        assert hasattr(tj, name), name
