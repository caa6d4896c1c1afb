"""Layer 6: ready-made ODE systems and their first integrals, as in ``heyoka.model``.

Every system is a list of ``(variable, right-hand side)`` pairs with heyoka's variable names and
order, so a system built here and one built by heyoka.model are interchangeable; the signatures,
defaults and input checks are heyoka's. Numbers, expressions (``tj.par[i]`` for a parameter
changed at run time) and variable names are accepted wherever heyoka accepts an expression.

The expressions are built for a small decomposition (see ``_common.py``): shared
subexpressions are one node of the hash-consed DAG, and numeric factors 0 and 1 are folded.
"""

from ._cr3bp import cr3bp as cr3bp
from ._cr3bp import cr3bp_jacobi as cr3bp_jacobi
from ._data import outer_solar_system as outer_solar_system
from ._fixed_centres import fixed_centres as fixed_centres
from ._fixed_centres import fixed_centres_energy as fixed_centres_energy
from ._fixed_centres import fixed_centres_potential as fixed_centres_potential
from ._nbody import nbody as nbody
from ._nbody import nbody_energy as nbody_energy
from ._nbody import nbody_potential as nbody_potential
from ._nbody import np1body as np1body
from ._nbody import np1body_energy as np1body_energy
from ._nbody import np1body_potential as np1body_potential
from ._pendulum import pendulum as pendulum
from ._pendulum import pendulum_energy as pendulum_energy
from ._rotating import rotating as rotating
from ._rotating import rotating_energy as rotating_energy
from ._rotating import rotating_potential as rotating_potential

__all__ = [
    "pendulum", "pendulum_energy", "nbody", "nbody_energy", "nbody_potential", "np1body",
    "np1body_energy", "np1body_potential", "cr3bp", "cr3bp_jacobi", "fixed_centres",
    "fixed_centres_energy", "fixed_centres_potential", "rotating", "rotating_energy",
    "rotating_potential", "outer_solar_system",
]
