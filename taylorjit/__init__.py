"""taylorjit: forward-mode truncated Taylor series at arbitrary order.

Expressions are an immutable, hash-consed DAG; every elementary function is one record of the
primitive table (``taylorjit._primitives``) with its numpy evaluation, sympy counterpart,
derivative and Taylor recurrence; ``cfunc`` JIT-compiles expressions to native code with
llvmlite. See README.md and docs/architecture.md.
"""

from . import model as model
from ._expr import Expr as Expr
from ._expr import get_params as get_params
from ._expr import get_variables as get_variables
from ._expr import make_vars as make_vars
from ._expr import par as par
from ._expr import subs as subs
from ._expr import time as time
from ._expr import var as var
from ._jit.cfunc import cfunc as cfunc
from ._primitives.arith import pow as pow  # noqa: A004 - heyoka's name
from ._primitives.arith import sqrt as sqrt
from ._primitives.arith import square as square
from ._primitives.diff import DTens as DTens
from ._primitives.diff import diff as diff
from ._primitives.diff import diff_tensors as diff_tensors
from ._primitives.elementary import acos as acos
from ._primitives.elementary import acosh as acosh
from ._primitives.elementary import asin as asin
from ._primitives.elementary import asinh as asinh
from ._primitives.elementary import atan as atan
from ._primitives.elementary import atan2 as atan2
from ._primitives.elementary import atanh as atanh
from ._primitives.elementary import cos as cos
from ._primitives.elementary import cosh as cosh
from ._primitives.elementary import exp as exp
from ._primitives.elementary import log as log
from ._primitives.elementary import sin as sin
from ._primitives.elementary import sinh as sinh
from ._primitives.elementary import tan as tan
from ._primitives.elementary import tanh as tanh
from ._primitives.special import erf as erf
from ._primitives.special import kepE as kepE
from ._primitives.sympy_bridge import from_sympy as from_sympy
from ._primitives.sympy_bridge import to_sympy as to_sympy
from ._series.gduals import compile_map as compile_map
from ._series.gduals import derivatives as derivatives
from ._series.gduals import gdual as gdual
from ._series.gduals import invert_map as invert_map
from ._taylor.coutput import continuous_output as continuous_output
from ._taylor.events import event_direction as event_direction
from ._taylor.events import nt_event as nt_event
from ._taylor.events import t_event as t_event
from ._taylor.integrator import taylor_adaptive as taylor_adaptive
from ._taylor.integrator import taylor_outcome as taylor_outcome
from ._taylor.variational import var_args as var_args
from ._taylor.variational import var_ode_sys as var_ode_sys

__version__ = "0.1.0"

__all__ = [
    "Expr", "make_vars", "var", "par", "time", "subs", "get_variables", "get_params",
    "diff", "diff_tensors", "DTens", "from_sympy", "to_sympy", "cfunc", "gdual", "derivatives",
    "invert_map", "compile_map", "taylor_adaptive", "taylor_outcome", "continuous_output", "model",
    "t_event", "nt_event", "event_direction", "var_ode_sys", "var_args",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "exp", "log", "sqrt", "square", "pow", "erf", "kepE",
]
