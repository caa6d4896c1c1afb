"""Benchmark problems built by one generator for every library.

A problem is described once, as a Python function ``generator(ns, vars)``
that receives a :class:`Namespace` (the library's ``sin``, ``cos``, ``exp``,
``sqrt``, ...) and a sequence of variables, and returns the list of outputs.
The same function therefore builds

* a taylorjit expression DAG (``ns = taylorjit_namespace()``, symbolic vars),
* a heyoka expression (``heyoka_namespace()``),
* a sympy expression (``sympy_namespace()``, then ``lambdify``),
* a numpy evaluation (``numpy_namespace()``, the vars are rows of an array),
* an mpmath reference value (``mpmath_namespace()``, the vars are ``mpf``).

Every library thus sees the same operations in the same order with the same
float64 constants, so the timings compare code generation and evaluation, not
differently written formulas.  All constants are written with at most 15
significant digits so that sympy's printer (which prints ``Float`` with 15
digits) reproduces exactly the same float64 values.

Library imports are lazy: building a namespace imports its library, and an
``ImportError`` propagates to the caller, which reports the library as not
installed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Namespace",
    "Problem",
    "NBODY6",
    "RANDOM_EXPR",
    "PROBLEMS",
    "taylorjit_namespace",
    "heyoka_namespace",
    "sympy_namespace",
    "numpy_namespace",
    "mpmath_namespace",
    "nbody_accelerations",
    "random_tree",
    "eval_tree",
    "tree_to_str",
]


# ---------------------------------------------------------------------------
# Namespaces
# ---------------------------------------------------------------------------


def _no_vars(*names: str) -> list[Any]:
    raise TypeError("this namespace evaluates numerically: pass the input values as variables")


@dataclass(frozen=True)
class Namespace:
    """The functions a problem generator may use, for one library.

    Attributes
    ----------
    name : str
        Library name (``"taylorjit"``, ``"heyoka"``, ...).
    make_vars : callable
        ``make_vars(*names)`` returns a list of symbolic variables (always a
        list, even for one name).  Numeric namespaces raise ``TypeError``.
    sin, cos, exp, sqrt, log : callable
        Elementary functions acting on the library's objects.
    pow : callable
        ``pow(base, exponent)``.
    version : str
        Version string of the library.
    """

    name: str
    make_vars: Callable[..., list[Any]]
    sin: Callable[[Any], Any]
    cos: Callable[[Any], Any]
    exp: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    log: Callable[[Any], Any]
    pow: Callable[[Any, Any], Any] = field(default=lambda a, b: a**b)
    version: str = ""


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def taylorjit_namespace() -> Namespace:
    """Return the namespace of taylorjit (imports ``taylorjit``).

    Returns
    -------
    Namespace
        ``tj.make_vars``, ``tj.sin``, ... wrapped as a :class:`Namespace`.
    """
    import taylorjit as tj

    return Namespace(
        name="taylorjit",
        make_vars=lambda *names: _as_list(tj.make_vars(*names)),
        sin=tj.sin,
        cos=tj.cos,
        exp=tj.exp,
        sqrt=tj.sqrt,
        log=tj.log,
        pow=getattr(tj, "pow", lambda a, b: a**b),
        version=str(getattr(tj, "__version__", "unknown")),
    )


def heyoka_namespace() -> Namespace:
    """Return the namespace of heyoka.py (imports ``heyoka``).

    Returns
    -------
    Namespace
        ``hy.make_vars``, ``hy.sin``, ... wrapped as a :class:`Namespace`.
    """
    import heyoka as hy

    return Namespace(
        name="heyoka",
        make_vars=lambda *names: _as_list(hy.make_vars(*names)),
        sin=hy.sin,
        cos=hy.cos,
        exp=hy.exp,
        sqrt=hy.sqrt,
        log=hy.log,
        pow=lambda a, b: a**b,
        version=str(hy.__version__),
    )


def sympy_namespace() -> Namespace:
    """Return the namespace of sympy (imports ``sympy``).

    Returns
    -------
    Namespace
        ``sympy.symbols``, ``sympy.sin``, ... wrapped as a :class:`Namespace`.
    """
    import sympy as sp

    return Namespace(
        name="sympy",
        make_vars=lambda *names: [sp.Symbol(n, real=True) for n in names],
        sin=sp.sin,
        cos=sp.cos,
        exp=sp.exp,
        sqrt=sp.sqrt,
        log=sp.log,
        pow=sp.Pow,
        version=str(sp.__version__),
    )


def numpy_namespace() -> Namespace:
    """Return the numpy namespace (vectorised evaluation over arrays).

    Returns
    -------
    Namespace
        ``np.sin``, ... ; ``make_vars`` raises because the variables are the
        rows of the input array.
    """
    return Namespace(
        name="numpy",
        make_vars=_no_vars,
        sin=np.sin,
        cos=np.cos,
        exp=np.exp,
        sqrt=np.sqrt,
        log=np.log,
        pow=np.power,
        version=np.__version__,
    )


def mpmath_namespace() -> Namespace:
    """Return the mpmath namespace (multiprecision reference values).

    Returns
    -------
    Namespace
        ``mpmath.sin``, ... ; evaluate under ``mpmath.workdps(...)``.
    """
    import mpmath

    return Namespace(
        name="mpmath",
        make_vars=_no_vars,
        sin=mpmath.sin,
        cos=mpmath.cos,
        exp=mpmath.exp,
        sqrt=mpmath.sqrt,
        log=mpmath.log,
        pow=mpmath.power,
        version=str(mpmath.__version__),
    )


# ---------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: variables, a generator and an input sampler.

    Attributes
    ----------
    name : str
        Short identifier.
    description : str
        One-line human description (used as the table title).
    var_names : tuple of str
        Names of the input variables, in input-row order.
    generator : callable
        ``generator(ns, vars) -> list`` of outputs, written once for all
        libraries.
    sampler : callable
        ``sampler(npoints, seed) -> ndarray`` of shape ``(nvars, npoints)``.
    info : dict
        JSON-serialisable details recorded in the results (constants, formula).
    """

    name: str
    description: str
    var_names: tuple[str, ...]
    generator: Callable[[Namespace, Sequence[Any]], list[Any]]
    sampler: Callable[[int, int], np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def nvars(self) -> int:
        """Number of input variables."""
        return len(self.var_names)

    def build(self, ns: Namespace) -> tuple[list[Any], list[Any]]:
        """Build the symbolic outputs with a symbolic namespace.

        Parameters
        ----------
        ns : Namespace
            A namespace whose ``make_vars`` creates symbols.

        Returns
        -------
        outputs : list
            The output expressions.
        vars : list
            The variables, in input-row order.
        """
        variables = ns.make_vars(*self.var_names)
        return list(self.generator(ns, variables)), variables

    def evaluate(self, ns: Namespace, values: Sequence[Any]) -> list[Any]:
        """Evaluate the outputs numerically with a numeric namespace.

        Parameters
        ----------
        ns : Namespace
            ``numpy_namespace()`` or ``mpmath_namespace()``.
        values : sequence
            One value (array row or scalar) per variable.

        Returns
        -------
        list
            The outputs, one per output component.
        """
        return list(self.generator(ns, list(values)))


# --- 6-body accelerations ---------------------------------------------------

#: Outer solar system (Hairer, Lubich & Wanner, GNI, sec. I.2.4): the Sun with
#: the inner planets, Jupiter, Saturn, Uranus, Neptune, Pluto.  Masses in solar
#: masses, used with G = 1 (15 significant digits at most, see module doc).
NBODY_MASSES: tuple[float, ...] = (
    1.00000597682,
    0.000954786104043,
    0.000285583733151,
    0.0000437273164546,
    0.0000517759138449,
    7.69230769230769e-9,
)
#: Typical heliocentric distances (AU) used to sample positions.
NBODY_RADII: tuple[float, ...] = (0.0, 5.2, 9.55, 19.2, 30.1, 39.5)


def nbody_accelerations(
    ns: Namespace, pos: Sequence[Any], masses: Sequence[float] = NBODY_MASSES
) -> list[Any]:
    """Accelerations of an n-body problem with G = 1.

    ``a_i = sum_{j != i} m_j (r_j - r_i) / |r_j - r_i|^3``, written with
    ``1 / (r2 * sqrt(r2))``.  Each pair's ``d = r_j - r_i`` and inverse cube
    distance are computed once and used for both bodies (``a_i += m_j w d``,
    ``a_j -= m_i w d``), which is what a hand-written numpy code does too.

    Parameters
    ----------
    ns : Namespace
        Library namespace (only ``sqrt`` is used).
    pos : sequence
        ``3 n`` positions ``x_0, y_0, z_0, x_1, ...``.
    masses : sequence of float
        The ``n`` masses.

    Returns
    -------
    list
        ``3 n`` accelerations ``ax_0, ay_0, az_0, ax_1, ...``.
    """
    n = len(masses)
    if len(pos) != 3 * n:
        raise ValueError(f"expected {3 * n} positions, got {len(pos)}")
    acc: list[Any] = [None] * (3 * n)

    def accumulate(k: int, term: Any, negate: bool) -> None:
        if acc[k] is None:
            acc[k] = -term if negate else term
        elif negate:
            acc[k] = acc[k] - term
        else:
            acc[k] = acc[k] + term

    for i in range(n):
        for j in range(i + 1, n):
            d = [pos[3 * j + c] - pos[3 * i + c] for c in range(3)]
            r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
            w = 1.0 / (r2 * ns.sqrt(r2))
            wi = masses[j] * w  # acts on body i
            wj = masses[i] * w  # acts on body j (with a minus sign)
            for c in range(3):
                accumulate(3 * i + c, wi * d[c], negate=False)
                accumulate(3 * j + c, wj * d[c], negate=True)
    return acc


def _sample_nbody(npoints: int, seed: int) -> np.ndarray:
    """Positions near the planets' orbits: radius a_i (1 + U(-0.1, 0.1)), random direction."""
    rng = np.random.default_rng(seed)
    out = np.empty((3 * len(NBODY_RADII), npoints))
    for i, a in enumerate(NBODY_RADII):
        if a == 0.0:  # the Sun: near the origin
            out[3 * i : 3 * i + 3] = rng.uniform(-0.01, 0.01, size=(3, npoints))
            continue
        v = rng.normal(size=(3, npoints))
        v /= np.sqrt((v * v).sum(axis=0))
        # mostly planar (|z| small), as in the real system
        v[2] *= 0.1
        out[3 * i : 3 * i + 3] = a * (1.0 + rng.uniform(-0.1, 0.1, size=npoints)) * v
    return out


NBODY6 = Problem(
    name="nbody6",
    description="accelerations of a 6-body problem (outer solar system, G = 1)",
    var_names=tuple(f"{c}{i}" for i in range(6) for c in "xyz"),
    generator=lambda ns, v: nbody_accelerations(ns, v),
    sampler=_sample_nbody,
    info={
        "masses": list(NBODY_MASSES),
        "radii_au": list(NBODY_RADII),
        "formula": "a_i = sum_j m_j (r_j - r_i) / (r2 * sqrt(r2)), r2 = |r_j - r_i|^2",
        "inputs": "x0, y0, z0, ..., x5, y5, z5",
        "outputs": "ax0, ay0, az0, ..., ax5, ay5, az5",
    },
)


NBODY20_MASSES: tuple[float, ...] = tuple(1.0 / (i + 1) for i in range(20))


def _sample_nbody20(npoints: int, seed: int) -> np.ndarray:
    """Twenty bodies at independent uniform positions in the cube [-10, 10]^3."""
    return np.random.default_rng(seed).uniform(-10.0, 10.0, size=(60, npoints))


NBODY20 = Problem(
    name="nbody20",
    description="accelerations of a 20-body problem (masses 1/(i+1), G = 1)",
    var_names=tuple(f"{c}{i}" for i in range(20) for c in "xyz"),
    generator=lambda ns, v: nbody_accelerations(ns, v, NBODY20_MASSES),
    sampler=_sample_nbody20,
    info={
        "masses": list(NBODY20_MASSES),
        "formula": "a_i = sum_j m_j (r_j - r_i) / (r2 * sqrt(r2)), r2 = |r_j - r_i|^2",
        "inputs": "x0, y0, z0, ..., x19, y19, z19",
    },
)


# --- random expression ------------------------------------------------------

_UNARY = ("sin", "cos", "exp")
_BINARY = ("add", "sub", "mul")
#: Largest bound on |argument| for which ``exp`` is kept (else ``sin`` is used).
_EXP_ARG_BOUND = 2.0


def _bound(tree: tuple) -> float:
    """Upper bound of ``|tree|`` for variables in [-1, 1]."""
    op = tree[0]
    if op == "var":
        return 1.0
    if op == "const":
        return abs(tree[1])
    if op in ("sin", "cos"):
        return 1.0
    if op == "exp":
        return float(np.exp(_bound(tree[1])))
    a, b = _bound(tree[1]), _bound(tree[2])
    return a * b if op == "mul" else a + b


def _gen(rng: random.Random, n: int, nvars: int, allow_const: bool = False) -> tuple:
    # Constants appear only as one operand of a binary node whose other operand
    # holds a variable, so every non-leaf subtree depends on a variable (no
    # ``exp(0.3)`` that libraries would fold differently, no float-only nodes).
    if n == 1:
        if allow_const and rng.random() < 0.25:
            # 3 decimals: printed identically by every library (see module doc)
            return ("const", round(rng.uniform(-1.0, 1.0), 3))
        return ("var", rng.randrange(nvars))
    if n == 2 or rng.random() < 0.45:
        arg = _gen(rng, n - 1, nvars)
        op = rng.choice(_UNARY)
        if op == "exp" and _bound(arg) > _EXP_ARG_BOUND:
            op = "sin"
        return (op, arg)
    k = rng.randint(1, n - 2)
    left = _gen(rng, k, nvars, allow_const=True)
    right = _gen(rng, n - 1 - k, nvars, allow_const=left[0] != "const")
    return (rng.choice(_BINARY), left, right)


def _count(tree: tuple) -> int:
    if tree[0] in ("var", "const"):
        return 1
    return 1 + sum(_count(t) for t in tree[1:])


def _vars_used(tree: tuple) -> set[int]:
    if tree[0] == "var":
        return {tree[1]}
    if tree[0] == "const":
        return set()
    return set().union(*(_vars_used(t) for t in tree[1:]))


def random_tree(seed: int, nnodes: int = 30, nvars: int = 3) -> tuple:
    """Deterministic random expression tree.

    The tree has exactly ``nnodes`` nodes (leaves are variables or constants
    in [-1, 1] with 3 decimals; inner nodes are ``sin``, ``cos``, ``exp``,
    ``add``, ``sub``, ``mul``); it uses every variable, contains no division,
    and ``exp`` only receives arguments bounded by 2 in absolute value, so the
    value is finite and moderate for inputs in [-1, 1].  The first seed
    ``seed, seed + 1, ...`` giving a tree that uses all variables is taken.

    Parameters
    ----------
    seed : int
        Seed of :class:`random.Random` (stable across Python versions).
    nnodes : int, optional
        Number of nodes.
    nvars : int, optional
        Number of variables.

    Returns
    -------
    tuple
        Nested tuples ``("var", i)``, ``("const", c)``, ``(op, child, ...)``.
    """
    for s in range(seed, seed + 1000):
        tree = _gen(random.Random(s), nnodes, nvars)
        if _vars_used(tree) == set(range(nvars)):
            assert _count(tree) == nnodes
            return tree
    raise RuntimeError("no tree using all variables found")  # pragma: no cover


def eval_tree(ns: Namespace, tree: tuple, variables: Sequence[Any]) -> Any:
    """Evaluate (or build) a tree with a namespace.

    Parameters
    ----------
    ns : Namespace
        Library namespace.
    tree : tuple
        A tree from :func:`random_tree`.
    variables : sequence
        Variables (symbolic or numeric), indexed by the ``("var", i)`` leaves.

    Returns
    -------
    object
        The library object for the tree.
    """
    op = tree[0]
    if op == "var":
        return variables[tree[1]]
    if op == "const":
        return tree[1]
    if op in _UNARY:
        return getattr(ns, op)(eval_tree(ns, tree[1], variables))
    a = eval_tree(ns, tree[1], variables)
    b = eval_tree(ns, tree[2], variables)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    return a * b


def tree_to_str(tree: tuple, names: Sequence[str]) -> str:
    """Render a tree as a formula string.

    Parameters
    ----------
    tree : tuple
        A tree from :func:`random_tree`.
    names : sequence of str
        Variable names.

    Returns
    -------
    str
        Fully parenthesised formula.
    """
    op = tree[0]
    if op == "var":
        return names[tree[1]]
    if op == "const":
        return repr(tree[1])
    if op in _UNARY:
        return f"{op}({tree_to_str(tree[1], names)})"
    sym = {"add": "+", "sub": "-", "mul": "*"}[op]
    return f"({tree_to_str(tree[1], names)} {sym} {tree_to_str(tree[2], names)})"


RANDOM_EXPR_SEED = 20261124
_RANDOM_TREE = random_tree(RANDOM_EXPR_SEED, nnodes=30, nvars=3)

RANDOM_EXPR = Problem(
    name="random_expr",
    description="seeded random expression, 30 nodes over 3 variables (sin, cos, exp, +, -, *)",
    var_names=("x", "y", "z"),
    generator=lambda ns, v: [eval_tree(ns, _RANDOM_TREE, v)],
    sampler=lambda npoints, seed: np.random.default_rng(seed).uniform(-1.0, 1.0, (3, npoints)),
    info={
        "seed": RANDOM_EXPR_SEED,
        "nnodes": _count(_RANDOM_TREE),
        "bound": _bound(_RANDOM_TREE),
        "formula": tree_to_str(_RANDOM_TREE, ("x", "y", "z")),
        "inputs": "x, y, z uniform in [-1, 1]",
    },
)

PROBLEMS: dict[str, Problem] = {p.name: p for p in (NBODY6, RANDOM_EXPR)}
