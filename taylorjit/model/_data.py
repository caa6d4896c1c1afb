"""Reference initial conditions for the ready-made systems."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["OuterSolarSystem", "outer_solar_system"]


class OuterSolarSystem(NamedTuple):
    """Masses, gravitational constant and initial state of the outer solar system."""

    masses: np.ndarray
    Gconst: float
    state: np.ndarray


def outer_solar_system() -> OuterSolarSystem:
    """The Sun, Jupiter, Saturn, Uranus, Neptune and Pluto (Applegate et al. 1986; heyoka.py's
    tutorial "Brouwer's law in the outer Solar System").

    Units: AU, solar masses, years of 365 days. ``state`` is ordered as :func:`nbody`'s
    variables (``x_i, y_i, z_i, vx_i, vy_i, vz_i`` body by body), so
    ``taylor_adaptive(nbody(6, Gconst, masses), state)`` integrates it. Fresh arrays each call.
    """
    day = 365.0  # velocities are given in AU per day
    masses = np.array([1.00000597682, 1 / 1047.355, 1 / 3501.6, 1 / 22869.0, 1 / 19314.0,
                       7.4074074e-09])
    positions_velocities = [
        (-4.06428567034226e-3, -6.08813756435987e-3, -1.66162304225834e-6,
         +6.69048890636161e-6, -6.33922479583593e-6, -3.13202145590767e-9),  # Sun
        (+3.40546614227466e+0, +3.62978190075864e+0, +3.42386261766577e-2,
         -5.59797969310664e-3, +5.51815399480116e-3, -2.66711392865591e-6),  # Jupiter
        (+6.60801554403466e+0, +6.38084674585064e+0, -1.36145963724542e-1,
         -4.17354020307064e-3, +3.99723751748116e-3, +1.67206320571441e-5),  # Saturn
        (+1.11636331405597e+1, +1.60373479057256e+1, +3.61783279369958e-1,
         -3.25884806151064e-3, +2.06438412905916e-3, -2.17699042180559e-5),  # Uranus
        (-3.01777243405203e+1, +1.91155314998064e+0, -1.53887595621042e-1,
         -2.17471785045538e-4, -3.11361111025884e-3, +3.58344705491441e-5),  # Neptune
        (-2.13858977531573e+1, +3.20719104739886e+1, +2.49245689556096e+0,
         -1.76936577252484e-3, -2.06720938381724e-3, +6.58091931493844e-4),  # Pluto
    ]
    state = np.array([[*row[:3], *(v * day for v in row[3:])] for row in positions_velocities])
    return OuterSolarSystem(masses, 0.01720209895 * 0.01720209895 * day * day, state.reshape(-1))
