"""Layer 5: the ODE side (decomposition, jets, step control, the native propagation loop)."""

from .variational import var_args as var_args
from .variational import var_ode_sys as var_ode_sys
