"""Layer 5: the ODE side (decomposition, jets, step control, the native propagation loop)."""
