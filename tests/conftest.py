"""Test-session settings: deterministic hypothesis runs in CI, a private JIT cache directory."""

from __future__ import annotations

import os
import tempfile

from hypothesis import settings

# CI runs the same examples every time (a red CI must be reproducible); locally hypothesis
# explores new examples on each run.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Compiled kernels of the test session go to a fresh directory unless the caller chose one.
os.environ.setdefault("TAYLORJIT_CACHE_DIR", tempfile.mkdtemp(prefix="taylorjit-tests-"))
