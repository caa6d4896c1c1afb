"""Sensitivities: variational equations of any order, and the Taylor map of the flow.

``var_ode_sys(sys, args, order)`` augments ``x' = f(x, p, t)`` with the equations of every
partial derivative of the solution, up to ``order``, with respect to the chosen arguments ``a``
(initial conditions, parameters, the initial time): for a multi-index ``alpha``,

    d/dt (D^alpha x_i) = D^alpha [f_i(x(a), p, t)],

whose right-hand side follows from the chain rule with the state variables taken as functions
of ``a`` (heyoka's ``dfun`` construction, var_ode_sys.cpp). Here the chain rule runs over the
expression DAG (``total_derivative``) with the rule "the derivative of the variable
``D^beta x_j`` along ``a_k`` is the variable ``D^(beta + e_k) x_j``"; each derivative is taken
from the one a degree below, once, so shared subexpressions stay shared.

Layout of the augmented state (heyoka's, so results compare entry by entry): the original
variables, then for each order ``1..K``, for each original variable, the multi-indices of that
order in descending lexicographic order (``(2, 0)``, ``(1, 1)``, ``(0, 2)``). The variational
variables are true derivatives (not divided by factorials); ``eval_taylor_map`` and
``taylor_map`` apply the factorials.

The integrator side (``VariationalMixin``) reads the augmented state: slices per order and
component, multi-indices, the Taylor map evaluated at a deviation by a compiled kernel, and the
map as gduals, so that the gdual toolbox (``evaluate``, ``invert_map``, ``get_derivative``)
applies to the flow.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Sequence
from functools import cache, cached_property
from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from .._expr import Call, Expr, Num, Par, Time, Var, as_expr, call, get_params, postorder
from .._jit.context import CompiledModule, jit_context
from .._jit.runtime import array_caller
from .._primitives.diff import total_derivative
from .._primitives.table import apply
from .._series.gduals import gdual
from .._series.monomials import basis
from .decompose import validate_system

__all__ = ["var_args", "var_ode_sys", "prepare_variational", "VariationalMixin"]

_ZERO = Num(0)
_ONE = Num(1)


class var_args(enum.IntFlag):  # noqa: N801 - heyoka's name
    """What ``var_ode_sys`` differentiates with respect to: combine with ``|``.

    ``vars``: the initial conditions of every state variable (in state order); ``params``: every
    parameter of the system (by index); ``time``: the initial time. ``all`` is the union.
    """

    vars = 1
    params = 2
    time = 4
    all = 7


class var_ode_sys:  # noqa: N801 - heyoka's name
    """An ODE system augmented with its variational equations up to ``order``.

    Parameters
    ----------
    sys
        The original system, a list of ``(variable, right-hand side)`` pairs.
    args
        A :class:`var_args` flag (``tj.var_args.vars | tj.var_args.params``: the initial
        conditions of all state variables, then all parameters of the system, then the initial
        time), or an explicit list of state variables, parameters ``tj.par[i]`` and
        ``tj.time`` (the initial time), in the order wanted.
    order
        The highest derivative order (>= 1).

    Attributes
    ----------
    sys
        The augmented system: the original equations, then one per partial derivative (its
        variable named as heyoka does: ``∂[(0, 1), (2, 1)]x``).
    vargs
        The arguments, as expressions (variables, parameters, ``tj.time``).
    n_orig_sv
        The number of original state variables.
    order
        The derivative order.

    Raises
    ------
    ValueError
        The original system is invalid (see ``taylor_adaptive``), a state variable's name starts
        with ``∂`` (reserved), ``order`` < 1, ``args`` is an empty list, names a variable that is
        not a state variable, a parameter the system does not use, or anything else than a
        variable, a parameter or ``tj.time``, or contains duplicates; a ``var_args`` value
        outside 1..7, or one that selects nothing in this system (``params`` without
        parameters).
    TypeError
        ``order`` is not an integer, or ``args`` is neither a ``var_args`` nor a sequence.

    Notes
    -----
    Unlike heyoka, a parameter that does not appear in the system is refused (its derivatives
    would be identically zero: most likely a typo in the index). Derivatives with respect to the
    initial time are seeded by the integrator at every order (heyoka: order 1 only).

    The size of the system grows polynomially: with ``m`` arguments there are
    ``n * C(m + K, K)`` equations; each derivative costs one pass over the DAG of the one below.
    """

    __slots__ = ("_sys", "_vargs", "_n", "_order", "_layout", "__weakref__", "__dict__")

    def __init__(self, sys: Any, args: var_args | Sequence[Any], order: int = 1) -> None:
        state, rhs = validate_system(sys)
        if isinstance(order, bool) or not isinstance(order, numbers.Integral):
            raise TypeError(f"The 'order' argument to the var_ode_sys constructor must be an "
                            f"integer, but it is {order!r}")
        if order == 0:
            raise ValueError("The 'order' argument to the var_ode_sys constructor must be nonzero")
        if order < 0:
            raise ValueError(f"The 'order' argument to the var_ode_sys constructor must be "
                             f"positive, but it is {order}")
        for v in state:
            if v.name.startswith("∂"):
                raise ValueError(f"Invalid state variable '{v.name}' detected: in a variational ODE "
                                 "system state variable names starting with '∂' are reserved")
        vargs = _variational_arguments(args, state, rhs)
        self._n = len(state)
        self._order = int(order)
        self._vargs = tuple(vargs)
        self._layout = _Layout(self._n, len(vargs), self._order)
        self._sys = _variational_system(state, rhs, self._vargs, self._order)

    # --- heyoka's attributes -----------------------------------------------------------------
    @property
    def sys(self) -> list[tuple[Var, Expr]]:
        """The augmented system (a new list each time)."""
        return list(self._sys)

    @property
    def vargs(self) -> list[Expr]:
        """The arguments of the derivatives, in order."""
        return list(self._vargs)

    @property
    def n_orig_sv(self) -> int:
        """The number of original state variables."""
        return self._n

    @property
    def order(self) -> int:
        """The highest derivative order."""
        return self._order

    def __len__(self) -> int:
        return len(self._sys)

    def __repr__(self) -> str:
        return (f"var_ode_sys(n_orig_sv={self._n}, vargs={list(self._vargs)}, order={self._order}, "
                f"equations={len(self._sys)})")

    def __reduce__(self) -> tuple:
        return (_rebuild_var_ode_sys, (self._sys, self._vargs, self._n, self._order))

    # --- what the integrator needs ---------------------------------------------------------------
    @cached_property
    def deviation_symbols(self) -> tuple[str, ...]:
        """The gdual symbols of the deviations, in ``vargs`` order: ``dx`` for a variable ``x``,
        ``dpar0`` for ``tj.par[0]``, ``dt0`` for the initial time."""
        names = tuple("d" + (a.name if isinstance(a, Var) else
                             f"par{a.index}" if isinstance(a, Par) else "t0") for a in self._vargs)
        if len(set(names)) != len(names):
            raise ValueError(f"Cannot name the deviations of the Taylor map: the symbols {list(names)} "
                             "are not distinct (a state variable is named like a parameter, "
                             "'par<i>', or like the initial time, 't0')")
        return names


def _rebuild_var_ode_sys(sys: list, vargs: tuple, n: int, order: int) -> var_ode_sys:
    out = object.__new__(var_ode_sys)
    out._sys, out._vargs, out._n, out._order = sys, vargs, n, order
    out._layout = _Layout(n, len(vargs), order)
    return out


def _variational_arguments(args: Any, state: list[Var], rhs: list[Expr]) -> list[Expr]:
    """The arguments as expressions, validated as heyoka does (plus unused parameters)."""
    params = get_params(rhs)
    if isinstance(args, var_args):
        if not 0 < int(args) <= int(var_args.all):
            raise ValueError("Invalid var_args enumerator detected: the value of the enumerator must "
                             f"be in the [1, 7] range, but a value of {int(args)} was detected instead")
        out: list[Expr] = []
        if args & var_args.vars:
            out += state
        if args & var_args.params:
            out += params
        if args & var_args.time:
            out.append(Time())
        if not out:
            raise ValueError("Cannot formulate the variational equations with respect to the "
                             "parameters: the system has no parameters (and no other argument "
                             "was selected)")
        return out
    if isinstance(args, str | bytes | Expr) or not isinstance(args, Sequence | np.ndarray):
        raise TypeError("The 'args' argument to the var_ode_sys constructor must be a var_args "
                        f"value or a list of variables, parameters and tj.time, not {args!r}")
    if len(args) == 0:
        raise ValueError("Cannot formulate the variational equations with respect to an empty list "
                         "of arguments")
    known_vars = {id(v) for v in state}
    known_pars = {p.index for p in params}
    out = []
    for a in args:
        try:
            e = Var(a) if isinstance(a, str) else as_expr(a)
        except TypeError:
            raise TypeError("Cannot formulate the variational equations with respect to an object "
                            f"of type {type(a).__name__}: expected a variable, a parameter or "
                            "tj.time") from None
        if isinstance(e, Var):
            if id(e) not in known_vars:
                raise ValueError("Cannot formulate the variational equations with respect to the "
                                 f"initial conditions for the variable '{e.name}', which is not "
                                 "among the state variables of the system")
        elif isinstance(e, Par):
            if e.index not in known_pars:
                used = sorted(known_pars)
                raise ValueError("Cannot formulate the variational equations with respect to the "
                                 f"parameter par[{e.index}], which does not appear in the system "
                                 f"(its parameters: {[f'par[{i}]' for i in used] or 'none'})")
        elif not isinstance(e, Time):
            raise ValueError("Cannot formulate the variational equations with respect to the "
                             f"expression '{e}': the expression is not a variable, not a parameter "
                             "and not tj.time")
        out.append(e)
    if len({id(e) for e in out}) != len(out):
        raise ValueError("Duplicate entries detected in the list of expressions with respect to "
                         f"which the variational equations are to be formulated: {out}")
    return out


def _name(var: Var, combo: tuple[int, ...]) -> str:
    """heyoka's name of a variational variable: ``∂[(0, 1), (2, 1)]x``."""
    counts = [(k, combo.count(k)) for k in sorted(set(combo))]
    return f"∂{counts}{var.name}"


def _variational_system(state: list[Var], rhs: list[Expr], vargs: tuple[Expr, ...], order: int
                        ) -> list[tuple[Var, Expr]]:
    """The augmented system: ``D^combo f`` for every sorted index tuple ``combo``.

    Each derivative comes from its parent ``combo[:-1]`` by one total derivative along
    ``vargs[combo[-1]]`` (forward mode through every node). At order 1 alone the first
    derivatives are written through the Jacobian instead (``_first_order``): fewer products
    (Kepler: 45 operations instead of 60, CR3BP: 205 instead of 243), but the tangents of the
    intermediate nodes that forward mode builds are what the higher orders differentiate, so
    with ``order >= 2`` the Jacobian form would only add operations (measured: +1 to +3 %).
    """
    m = len(vargs)
    # variables[(j, combo)]: the variable holding D^combo x_j; which[id(var)] the reverse.
    variables: dict[tuple[int, tuple[int, ...]], Var] = {(j, ()): v for j, v in enumerate(state)}
    for n in range(1, order + 1):
        for combo in combinations_with_replacement(range(m), n):
            for j, v in enumerate(state):
                variables[(j, combo)] = Var(_name(v, combo))
    which = {id(v): key for key, v in variables.items()}

    def leaf_rule(k: int) -> Any:
        arg = vargs[k]

        def leaf(node: Expr) -> Expr:
            key = which.get(id(node))
            if key is not None:  # D^beta x_j moves with D^(beta + e_k) x_j
                j, combo = key
                return variables[(j, tuple(sorted((*combo, k))))]
            return _ONE if node is arg and isinstance(node, Par) else _ZERO

        return leaf

    out = list(zip(state, rhs, strict=True))
    if order == 1:
        first = _first_order(state, rhs, vargs, variables)
        for j in range(len(state)):
            out += [(variables[(j, (k,))], first[k][j]) for k in range(m)]
        return list(zip([v for v, _ in out], _canonical([f for _, f in out], len(state)), strict=True))
    leaves = [leaf_rule(k) for k in range(m)]
    derivatives: dict[tuple[int, ...], list[Expr]] = {(): list(rhs)}
    for n in range(1, order + 1):
        combos = list(combinations_with_replacement(range(m), n))
        for combo in combos:
            derivatives[combo] = total_derivative(derivatives[combo[:-1]], leaves[combo[-1]])
        for j in range(len(state)):
            out += [(variables[(j, c)], derivatives[c][j]) for c in combos]
        if n > 1:  # the previous order is no parent any more: let its unshared nodes go
            for combo in combinations_with_replacement(range(m), n - 1):
                del derivatives[combo]
    return list(zip([v for v, _ in out], _canonical([f for _, f in out], len(state)), strict=True))


def _first_order(state: list[Var], rhs: list[Expr], vargs: tuple[Expr, ...],
                 variables: dict[tuple[int, tuple[int, ...]], Var]) -> list[list[Expr]]:
    """``D_k f_i = sum_j (df_i/dx_j) D_k x_j + df_i/da_k`` (the last term for a parameter only):
    the Jacobian once, then one product per nonzero entry and direction."""
    def wrt(x: Expr) -> list[Expr]:
        return total_derivative(rhs, lambda node: _ONE if node is x else _ZERO)

    jac = [wrt(v) for v in state]  # jac[j][i] = df_i / dx_j
    out = []
    for k, a in enumerate(vargs):
        explicit = wrt(a) if isinstance(a, Par) else [_ZERO] * len(rhs)
        column = []
        for i in range(len(rhs)):
            total: Expr = explicit[i]
            for j in range(len(state)):
                if jac[j][i] is not _ZERO:
                    total = call("add", total, call("mul", jac[j][i], variables[(j, (k,))]))
            column.append(total)
        out.append(column)
    return out


def _canonical(roots: list[Expr], keep: int) -> list[Expr]:
    """The expressions with one node per ``add`` or ``mul`` of the same two operands, whatever
    their order: the product rule makes both ``a*b`` and ``b*a``, and merging them saves 5-10 %
    of the operations at orders 2-3 (CR3BP order 3: 7741 instead of 8122).

    The first node met in a postorder walk of ``roots`` stands for its operand pair, so the
    result is deterministic (equal systems give equal expressions, and hit the same compiled
    code). The first ``keep`` roots (the user's right-hand sides) are left exactly as they are.
    """
    fixed = {id(n) for n in postorder(roots[:keep])}
    first: dict[tuple[str, int, int], Expr] = {}
    memo: dict[int, Expr] = {}
    alive: list[Expr] = []  # every node in ``first`` stays alive, so its id stays unique
    for node in postorder(roots):
        new = node
        if isinstance(node, Call):
            args = [memo[id(a)] for a in node.args]
            if id(node) not in fixed and any(a is not b for a, b in zip(args, node.args, strict=True)):
                new = call(node.prim.name, *args)
            if isinstance(new, Call) and new.prim.name in ("add", "mul"):
                a, b = new.args
                key = (new.prim.name, *sorted((id(a), id(b))))
                if id(node) in fixed:
                    first.setdefault(key, new)  # type: ignore[arg-type]
                else:
                    new = first.setdefault(key, new)  # type: ignore[arg-type]
                alive.append(new)
        memo[id(node)] = new
    return [memo[id(r)] for r in roots]


class _Layout:
    """Where each partial derivative lives in the augmented state, and the tables of the
    compiled Taylor-map kernels (built on first use, shared by every integrator of a system).

    For order ``d >= 1`` the block starts at ``offsets[d]`` and holds ``n`` rows of ``counts[d]``
    multi-indices, in the order of ``monomials.basis(m, order)`` for that degree.
    """

    def __init__(self, n: int, m: int, order: int) -> None:
        self.n, self.m, self.order = n, m, order
        self.counts = [math.comb(m + d - 1, d) for d in range(order + 1)]
        self.offsets = [0]
        for d in range(order + 1):
            self.offsets.append(self.offsets[-1] + n * self.counts[d])
        self.size = self.offsets[-1]

    def slot(self, i: int, d: int, local: int) -> int:
        """State index of component ``i``, derivative order ``d``, ``local``-th multi-index."""
        return self.offsets[d] + i * self.counts[d] + local

    @cached_property
    def mindex(self) -> np.ndarray:
        """``(size, 1 + m)``: component, then the multi-index, of each state entry."""
        bs = basis(self.m, self.order)
        out = np.zeros((self.size, 1 + self.m), dtype=np.int64)
        for d in range(self.order + 1):
            block = bs.exponents[bs.block(d)]
            for i in range(self.n):
                rows = slice(self.slot(i, d, 0), self.slot(i, d, self.counts[d]))
                out[rows, 0] = i
                out[rows, 1:] = block
        return out

    @cached_property
    def gather(self) -> np.ndarray:
        """``(n, ncoef)`` state indices of each component's derivatives in basis order."""
        bs = basis(self.m, self.order)
        out = np.empty((self.n, bs.ncoef), dtype=np.int64)
        for d in range(self.order + 1):
            local = np.arange(self.counts[d])
            for i in range(self.n):
                out[i, bs.block(d)] = self.slot(i, d, 0) + local
        return out

    @cached_property
    def eval_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The map-evaluation kernel's tables: int64 ``[parent, var, gather.ravel()]`` and the
        float ``1 / alpha_var`` of each monomial (``mono[j] = mono[parent] * delta[var] /
        alpha_var``: the monomial divided by its factorials, built in one pass)."""
        bs = basis(self.m, self.order)
        parent = np.zeros(bs.ncoef, dtype=np.int64)
        var = np.zeros(bs.ncoef, dtype=np.int64)
        recip = np.ones(bs.ncoef)
        for j in range(1, bs.ncoef):
            row = bs.exponents[j]
            v = int(np.nonzero(row)[0][-1])
            lower = row.copy()
            lower[v] -= 1
            parent[j], var[j], recip[j] = bs.index[tuple(lower.tolist())], v, 1.0 / row[v]
        return np.concatenate([parent, var, self.gather.ravel()]), recip

    def gdual_tables(self, symbols: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """For gduals over the sorted ``symbols``: the sorted symbols, the ``(n, ncoef)`` state
        indices in that basis, and ``1 / alpha!`` per coefficient."""
        key = ("gdual", symbols)
        cached = self.__dict__.get(key)
        if cached is not None:
            return cached
        order = sorted(range(self.m), key=lambda k: symbols[k])
        sorted_symbols = tuple(symbols[k] for k in order)
        bs = basis(self.m, self.order)
        position = np.empty((self.n, bs.ncoef), dtype=np.int64)
        for j, row in enumerate(bs.exponents.tolist()):
            ours = [0] * self.m
            for s, k in enumerate(order):
                ours[k] = row[s]
            position[:, j] = self.gather[:, bs.index[tuple(ours)]]
        out = (sorted_symbols, position, 1.0 / bs.factorials)
        self.__dict__[key] = out
        return out


# --- seeding the variational state --------------------------------------------------------------

def prepare_variational(sys: Any, state: Any, *, time: Any = 0.0, pars: Any = None
                        ) -> tuple[Any, Any, var_ode_sys | None]:
    """The pairs, the full initial state and the ``var_ode_sys`` (None for a plain system).

    For a ``var_ode_sys``, a state of ``n_orig_sv`` values is completed heyoka's way: the
    derivatives with respect to initial conditions start as the identity (order 1) and zeros
    (above), those with respect to parameters as zeros; those with respect to the initial time
    ``t0`` are the derivatives of ``x(t0; x0, p, t0 + tau)`` (start at ``t0 + tau``, integrate
    back to ``t0``), ``-f(x0, p, t0)`` at order 1, computed at every order (see
    ``_initial_time_map``). A state of the full length is kept as given. ``time`` and ``pars``
    are needed for the initial-time derivatives only; values the integrator will refuse are not
    used (its own checks then report them).

    Raises
    ------
    ValueError
        A state whose length is neither ``n_orig_sv`` nor the number of equations.
    """
    if not isinstance(sys, var_ode_sys):
        return sys, state, None
    try:
        x = np.array(state, dtype=float)
    except (TypeError, ValueError):
        return sys.sys, state, sys  # the integrator reports what is wrong with it
    if x.ndim != 1:
        return sys.sys, state, sys
    total, n = len(sys), sys.n_orig_sv
    if len(x) == total:
        return sys.sys, state, sys
    if len(x) != n:
        raise ValueError("Inconsistent sizes detected in the initialization of a variational adaptive "
                         f"Taylor integrator: the state vector has a dimension of {len(x)}, while the "
                         f"total number of equations is {total}. The size of the state vector must be "
                         "equal either to the total number of equations, or to the number of original "
                         f"(i.e., non-variational) equations, which for this system is {n}")
    full = np.zeros(total)
    full[:n] = x
    layout = sys._layout
    if any(isinstance(a, Time) for a in sys._vargs):
        p = _usable_pars(pars, sys)
        t0 = _usable_time(time)
        if p is not None and t0 is not None:
            _initial_time_map(sys, x, p, t0, full)
            return sys.sys, full, sys
    for k, a in enumerate(sys._vargs):  # identity: d x_j / d x_j(0) = 1
        if isinstance(a, Var):
            j = next(i for i, (v, _) in enumerate(sys._sys[:n]) if v is a)
            full[layout.slot(j, 1, k)] = 1.0
    return sys.sys, full, sys


def _usable_pars(pars: Any, vsys: var_ode_sys) -> np.ndarray | None:
    npars = 1 + max((p.index for p in get_params([f for _, f in vsys._sys[:vsys.n_orig_sv]])),
                    default=-1)
    if pars is None:
        return np.zeros(npars)
    try:
        p = np.array(pars, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    return p if len(p) >= npars else None  # more: parameters of event functions


def _usable_time(time: Any) -> float | None:
    try:
        t = float(time)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) else None


def _initial_time_map(vsys: var_ode_sys, x0: np.ndarray, pars: np.ndarray, t0: float,
                      out: np.ndarray) -> None:
    """Every derivative of ``M(a) = x(t0; x0 + dx, p + dp, t0 + tau)`` at ``a = 0``, into ``out``.

    ``M`` starts at time ``t0 + tau`` from ``x0 + dx`` and integrates back to ``t0``: its
    derivatives are those of the solution at the initial time with respect to the arguments
    (identity and zeros for initial conditions and parameters; ``-f`` at order 1 for ``tau``).
    With gduals in the deviations and in the flow time ``s``, Picard's iteration
    ``X <- X0 + int_0^s f(X, p, t0 + tau + s) ds`` gains one correct degree in ``s`` per pass;
    after ``K`` passes, ``s = -tau`` gives ``M`` to total degree ``K`` (``s`` and ``tau`` are both
    of degree 1, so the truncation is exact).
    """
    K, n = vsys.order, vsys.n_orig_sv
    names = [f"a{k:04d}" for k in range(len(vsys._vargs))]
    state_vars = [v for v, _ in vsys._sys[:n]]
    rhs = [f for _, f in vsys._sys[:n]]
    start: list[Any] = [float(v) for v in x0]
    par_values: dict[int, Any] = {i: float(v) for i, v in enumerate(pars)}
    tau: Any = 0.0
    for k, a in enumerate(vsys._vargs):
        if isinstance(a, Var):
            j = next(i for i, v in enumerate(state_vars) if v is a)
            start[j] = gdual(start[j], names[k], K)
        elif isinstance(a, Par):
            par_values[a.index] = gdual(par_values[a.index], names[k], K)
        else:
            tau = gdual(0.0, names[k], K)
    s = gdual(0.0, "s", K)  # sorts after the "a..." symbols; substituted away below
    start = [v + 0.0 * s for v in start]  # every component over the symbol s
    X = start
    for _ in range(K):
        f = _evaluate(rhs, dict(zip(map(id, state_vars), X, strict=True)), par_values, t0 + tau + s)
        X = [x + (fi + 0.0 * s).integrate("ds") for x, fi in zip(start, f, strict=True)]
    M = [x.subs("ds", -tau) for x in X]
    layout = vsys._layout
    mindex = layout.mindex
    for idx in range(layout.size):
        i, alpha = int(mindex[idx, 0]), mindex[idx, 1:]
        g = M[i]
        if not isinstance(g, gdual):
            out[idx] = float(g) if not alpha.any() else 0.0
            continue
        exps = {names[k]: int(e) for k, e in enumerate(alpha) if e}
        out[idx] = g.get_derivative(exps) if exps else g.constant_cf


def _evaluate(roots: list[Expr], variables: dict[int, Any], pars: dict[int, Any], time: Any) -> list[Any]:
    """The values of ``roots`` with gduals (or floats) for the leaves, through the primitive
    table (``apply`` dispatches to gduals)."""
    values: dict[int, Any] = {}
    for node in postorder(roots):
        if isinstance(node, Call):
            values[id(node)] = apply(node.prim.name, *(values[id(a)] for a in node.args))
        elif isinstance(node, Var):
            values[id(node)] = variables[id(node)]
        elif isinstance(node, Par):
            values[id(node)] = pars[node.index]
        elif isinstance(node, Time):
            values[id(node)] = time
        else:
            values[id(node)] = float(node.value)  # type: ignore[attr-defined]
    return [values[id(r)] for r in roots]


# --- the compiled Taylor-map kernels -------------------------------------------------------------

# Both kernels take a context (an int64 array: the integrator's persistent arrays as raw pointers,
# and sizes; see _Context) and the one array that changes per call: two arguments, so a call
# crosses ctypes in about 0.4 us instead of 1.1 us with every array passed.
#
# eval_map: tstate[i] = sum_j state[idx[i, j]] * mono[j], mono[j] = delta^alpha_j / alpha_j!
# (mono[0] = 1), built as mono[parent[j]] * delta[var[j]] * recip[j]; the sum runs from the
# highest monomial down, so the small terms are added before the state value itself.
# gather: out[q] = state[gidx[q]] * scale[q mod ncoef], q < n * ncoef: the gdual coefficients.
_CONTEXT_FIELDS = ("state", "tstate", "mono", "recip", "parent", "var", "idx", "gidx", "scale",
                   "n", "nmono", "ncoef")
_KERNELS = """
define internal ptr @field(ptr %ctx, i64 %k) alwaysinline {
  %p = getelementptr i64, ptr %ctx, i64 %k
  %v = load i64, ptr %p
  %q = inttoptr i64 %v to ptr
  ret ptr %q
}

define internal i64 @size(ptr %ctx, i64 %k) alwaysinline {
  %p = getelementptr i64, ptr %ctx, i64 %k
  %v = load i64, ptr %p
  ret i64 %v
}

define void @{prefix}eval_map(ptr noalias %ctx, ptr noalias %delta) {
entry:
  %state = call ptr @field(ptr %ctx, i64 0)
  %out = call ptr @field(ptr %ctx, i64 1)
  %mono = call ptr @field(ptr %ctx, i64 2)
  %recip = call ptr @field(ptr %ctx, i64 3)
  %parent.t = call ptr @field(ptr %ctx, i64 4)
  %var.t = call ptr @field(ptr %ctx, i64 5)
  %idx.t = call ptr @field(ptr %ctx, i64 6)
  %n = call i64 @size(ptr %ctx, i64 9)
  %nmono = call i64 @size(ptr %ctx, i64 10)
  store double 1.0, ptr %mono
  %has.mono = icmp sgt i64 %nmono, 1
  br i1 %has.mono, label %m.loop, label %m.end
m.loop:
  %j = phi i64 [ 1, %entry ], [ %j.next, %m.loop ]
  %par.p = getelementptr i64, ptr %parent.t, i64 %j
  %par = load i64, ptr %par.p
  %var.p = getelementptr i64, ptr %var.t, i64 %j
  %var = load i64, ptr %var.p
  %pm.p = getelementptr double, ptr %mono, i64 %par
  %pm = load double, ptr %pm.p
  %d.p = getelementptr double, ptr %delta, i64 %var
  %d = load double, ptr %d.p
  %r.p = getelementptr double, ptr %recip, i64 %j
  %r = load double, ptr %r.p
  %pd = fmul double %pm, %d
  %m = fmul double %pd, %r
  %m.p = getelementptr double, ptr %mono, i64 %j
  store double %m, ptr %m.p
  %j.next = add i64 %j, 1
  %j.more = icmp slt i64 %j.next, %nmono
  br i1 %j.more, label %m.loop, label %m.end
m.end:
  %any = icmp sgt i64 %n, 0
  %last = sub i64 %nmono, 1
  br i1 %any, label %i.loop, label %exit
i.loop:
  %i = phi i64 [ 0, %m.end ], [ %i.next, %i.end ]
  %row = mul i64 %i, %nmono
  br label %s.loop
s.loop:
  %k = phi i64 [ %last, %i.loop ], [ %k.next, %s.loop ]
  %acc = phi double [ 0.0, %i.loop ], [ %acc.next, %s.loop ]
  %g = add i64 %row, %k
  %ix.p = getelementptr i64, ptr %idx.t, i64 %g
  %ix = load i64, ptr %ix.p
  %x.p = getelementptr double, ptr %state, i64 %ix
  %x = load double, ptr %x.p
  %mk.p = getelementptr double, ptr %mono, i64 %k
  %mk = load double, ptr %mk.p
  %t = fmul double %x, %mk
  %acc.next = fadd double %acc, %t
  %k.next = sub i64 %k, 1
  %k.more = icmp sge i64 %k.next, 0
  br i1 %k.more, label %s.loop, label %i.end
i.end:
  %o.p = getelementptr double, ptr %out, i64 %i
  store double %acc.next, ptr %o.p
  %i.next = add i64 %i, 1
  %i.more = icmp slt i64 %i.next, %n
  br i1 %i.more, label %i.loop, label %exit
exit:
  ret void
}

define void @{prefix}gather(ptr noalias %ctx, ptr noalias %out) {
entry:
  %state = call ptr @field(ptr %ctx, i64 0)
  %idx = call ptr @field(ptr %ctx, i64 7)
  %scale = call ptr @field(ptr %ctx, i64 8)
  %n = call i64 @size(ptr %ctx, i64 9)
  %ncoef = call i64 @size(ptr %ctx, i64 11)
  %any = icmp sgt i64 %n, 0
  %some = icmp sgt i64 %ncoef, 0
  %both = and i1 %any, %some
  br i1 %both, label %row, label %exit
row:
  %i = phi i64 [ 0, %entry ], [ %i.next, %row.end ]
  %base = mul i64 %i, %ncoef
  %idx.row = getelementptr i64, ptr %idx, i64 %base
  %out.row = getelementptr double, ptr %out, i64 %base
  br label %loop
loop:
  %c = phi i64 [ 0, %row ], [ %c.next, %loop ]
  %ix.p = getelementptr i64, ptr %idx.row, i64 %c
  %ix = load i64, ptr %ix.p
  %x.p = getelementptr double, ptr %state, i64 %ix
  %x = load double, ptr %x.p
  %s.p = getelementptr double, ptr %scale, i64 %c
  %s = load double, ptr %s.p
  %y = fmul double %x, %s
  %o.p = getelementptr double, ptr %out.row, i64 %c
  store double %y, ptr %o.p
  %c.next = add i64 %c, 1
  %more = icmp slt i64 %c.next, %ncoef
  br i1 %more, label %loop, label %row.end
row.end:
  %i.next = add i64 %i, 1
  %rows = icmp slt i64 %i.next, %n
  br i1 %rows, label %row, label %exit
exit:
  ret void
}
"""

_modules: list[CompiledModule] = []


@cache
def _kernels() -> tuple[int, int, Any]:
    """Addresses of the two kernels (compiled once per process, disk-cached) and the caller."""
    module = jit_context().compile(repr(("taylor-map", _KERNELS)),
                                   lambda prefix: _KERNELS.replace("{prefix}", prefix),
                                   speed_level=3)
    _modules.append(module)
    return (module.address(module.prefix + "eval_map"), module.address(module.prefix + "gather"),
            array_caller(2, 0))


class _Context:
    """One integrator's side of the Taylor-map kernels: its scratch and result arrays and the
    context array of raw pointers that the kernels read.

    The pointers are taken from arrays this object (or the integrator) keeps alive. The context
    belongs to one integrator (``owner``, its ``id``) and its state array: the mixin rebuilds it
    when either differs (a copied integrator must never write through its original's pointers).
    The kernels release the GIL, so integrators never share scratch.
    """

    __slots__ = ("owner", "state", "tstate", "tstate_view", "mono", "ctx", "n", "m", "order",
                 "eval_address", "gather_address", "caller", "make", "ncoef", "_vsys", "_keep")

    def __init__(self, vsys: var_ode_sys, state: np.ndarray, owner: int) -> None:
        layout = vsys._layout
        self.owner, self.state, self._vsys, self.make, self.ncoef = owner, state, vsys, None, 0
        self.n, self.m, self.order = layout.n, layout.m, vsys.order
        self.tstate = np.zeros(layout.n)
        self.tstate_view = self.tstate.view()
        self.tstate_view.flags.writeable = False
        tables, recip = layout.eval_tables
        nmono = len(recip)
        self.mono = np.empty(nmono)
        parent, var, idx = tables[:nmono], tables[nmono:2 * nmono], tables[2 * nmono:]
        self._keep = (tables, recip, parent, var, idx)
        self.ctx = np.zeros(len(_CONTEXT_FIELDS), dtype=np.int64)
        for k, a in enumerate((state, self.tstate, self.mono, recip, parent, var, idx)):
            self.ctx[k] = a.ctypes.data
        self.ctx[9], self.ctx[10] = layout.n, nmono
        self.eval_address, self.gather_address, self.caller = _kernels()

    def prepare_gduals(self) -> None:
        """Fill the gather fields of the context, and ``make``: a gdual over a row of
        coefficients (a closure over the symbols and order, the cheapest way to build one)."""
        symbols, position, scale = self._vsys._layout.gdual_tables(self._vsys.deviation_symbols)
        position = np.ascontiguousarray(position)
        self._keep = (*self._keep, position, scale)
        self.ncoef = position.shape[1]
        self.ctx[7], self.ctx[8], self.ctx[11] = position.ctypes.data, scale.ctypes.data, self.ncoef
        order, new = self.order, object.__new__

        def make(c: np.ndarray) -> gdual:
            g = new(gdual)
            g._c, g._symbols, g._order, g._nz = c, symbols, order, None
            return g

        self.make = make


_F64 = np.dtype(np.float64)


class VariationalMixin:
    """Sensitivities for ``taylor_adaptive``: reads ``self._vsys`` (None for plain systems) and
    ``self._state``; keeps its kernel context in the instance dictionary (``_vcontext``).

    The methods mirror heyoka.py's: ``get_vslice``, ``get_mindex``, ``eval_taylor_map``,
    ``tstate``, plus ``taylor_map()``, the current state as gduals in the deviations.
    """

    _vsys: var_ode_sys | None
    _state: np.ndarray

    def _variational(self, fname: str) -> var_ode_sys:
        vsys = self._vsys
        if vsys is None:
            raise ValueError(f"The function '{fname}()' cannot be invoked on non-variational "
                             "integrators")
        return vsys

    def _context(self, fname: str) -> _Context:
        """This integrator's kernel context (built on first use, rebuilt for a copy)."""
        ctx: _Context | None = self.__dict__.get("_vcontext")
        if ctx is None or ctx.owner != id(self) or ctx.state is not self._state:
            ctx = _Context(self._variational(fname), self._state, id(self))
            self.__dict__["_vcontext"] = ctx
        return ctx

    @property
    def is_variational(self) -> bool:
        """Whether the integrator integrates a ``var_ode_sys``."""
        return self._vsys is not None

    @property
    def n_orig_sv(self) -> int:
        """The number of original state variables (the dimension, for a plain system)."""
        return len(self._state) if self._vsys is None else self._vsys.n_orig_sv

    @property
    def vorder(self) -> int:
        """The order of the variational equations."""
        return self._variational("get_vorder").order

    @property
    def vargs(self) -> list[Expr]:
        """The arguments of the derivatives."""
        return self._variational("get_vargs").vargs

    def get_vslice(self, order: int, component: int | None = None) -> slice:
        """The slice of the state holding the derivatives of ``order`` (of one ``component``).

        ``order=0`` gives the original variables. As in heyoka, an order above the variational
        order or a component out of range gives the empty slice at the end of the state.

        Raises
        ------
        ValueError
            On a non-variational integrator, or for a negative order or component.
        """
        layout = self._variational("get_vslice")._layout
        d = _index(order, "order")
        if component is None:
            if d > layout.order:
                return slice(layout.size, layout.size)
            return slice(layout.offsets[d], layout.offsets[d + 1])
        i = _index(component, "component")
        if d > layout.order or i >= layout.n:
            return slice(layout.size, layout.size)
        return slice(layout.slot(i, d, 0), layout.slot(i, d, layout.counts[d]))

    def get_mindex(self, i: int) -> list[int]:
        """``[component, n_1, ..., n_m]``: the state entry ``i`` is the derivative of
        ``component`` taken ``n_k`` times with respect to ``vargs[k]``.

        Raises
        ------
        ValueError
            On a non-variational integrator, or an index outside the state.
        """
        layout = self._variational("get_mindex")._layout
        k = _index(i, "index")
        if k >= layout.size:
            raise ValueError(f"Cannot fetch the multiindex of the derivative at index {k}: the index "
                             f"is not less than the total number of derivatives ({layout.size})")
        return layout.mindex[k].tolist()

    @property
    def tstate(self) -> np.ndarray:
        """The result of the last ``eval_taylor_map`` (a read-only view; zeros before)."""
        return self._context("get_tstate").tstate_view

    def eval_taylor_map(self, inputs: Any) -> np.ndarray:
        """The Taylor map of the flow at the deviations ``inputs`` (one per ``vargs`` entry).

        ``sum_alpha D^alpha x_i * delta^alpha / alpha!`` over the multi-indices up to the
        variational order: the state the integration would reach from the arguments moved by
        ``inputs``, to that order. Written into ``tstate``, which is returned.

        Raises
        ------
        ValueError
            On a non-variational integrator; for an array that is not one-dimensional, not
            C-contiguous, of the wrong length, or sharing memory with ``state`` or ``tstate``.
        TypeError
            For an array whose dtype is not float64.
        """
        buf: _Context | None = self.__dict__.get("_vcontext")
        if buf is None or buf.owner != id(self) or buf.state is not self._state:
            buf = self._context("eval_taylor_map")
        d = inputs
        if type(d) is not np.ndarray:
            d = _as_inputs(d)
        elif d.dtype is not _F64 and d.dtype != _F64:
            raise TypeError("Invalid dtype detected for the inputs of a Taylor map evaluation: the "
                            f"expected dtype is 'float64', but the dtype of the inputs array is "
                            f"'{d.dtype}' instead")
        if d.ndim != 1:
            raise ValueError(f"The array of inputs provided for the evaluation of a Taylor map has "
                             f"{d.ndim} dimensions, but it must have 1 dimension instead")
        m = buf.m
        if d.shape[0] != m:
            raise ValueError(f"The array of inputs provided for the evaluation of a Taylor map has "
                             f"{d.shape[0]} elements, but it must have {m} elements instead")
        if not d.flags.c_contiguous:
            raise ValueError("Invalid inputs array detected in a Taylor map evaluation: the array is "
                             "not C-style contiguous, please consider using numpy.ascontiguousarray() "
                             "to turn it into one")
        if d.base is not None and (np.may_share_memory(d, self._state)
                                   or np.may_share_memory(d, buf.tstate)):
            raise ValueError("The inputs array provided for the evaluation of a Taylor map may overlap "
                             "with the integrator's internal data: please make sure that the inputs "
                             "array does not share memory with the state or tstate arrays of the "
                             "integrator")
        buf.caller(buf.eval_address, buf.ctx, d)
        return buf.tstate_view

    def taylor_map(self) -> list[gdual]:
        """The current state as gduals in the deviations of ``vargs``: ``dx`` for a variable
        ``x``, ``dpar0`` for ``tj.par[0]``, ``dt0`` for the initial time.

        Component ``i`` is the Taylor polynomial of the flow's ``x_i`` in the deviations, to the
        variational order, so ``g.get_derivative({"dx": 1})`` is an entry of the state
        transition matrix and ``g.evaluate({...})`` equals ``eval_taylor_map``. With respect to
        all state variables the map is square and ``tj.invert_map`` inverts the flow; note that
        gduals keep their symbols sorted (``["dv", "dx"]``), so ``invert_map`` pairs component
        ``i`` with the ``i``-th symbol in that order and returns one gdual per sorted symbol.

        Each call builds new gduals (about 2 us for 6 components at order 3): they do not follow
        later steps.

        Raises
        ------
        ValueError
            On a non-variational integrator.
        """
        buf: _Context | None = self.__dict__.get("_vcontext")
        if buf is None or buf.owner != id(self) or buf.state is not self._state:
            buf = self._context("taylor_map")
        if buf.make is None:
            buf.prepare_gduals()
        out = np.empty((buf.n, buf.ncoef))
        buf.caller(buf.gather_address, buf.ctx, out)
        return list(map(buf.make, out))


def _index(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"the {what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"the {what} must be non-negative, but it is {value}")
    return int(value)


def _as_inputs(values: Any) -> np.ndarray:
    try:
        d = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("the inputs of a Taylor map evaluation must be real numbers") from None
    return d
