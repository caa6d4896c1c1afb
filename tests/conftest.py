"""Test-session settings: deterministic hypothesis runs in CI, a private JIT cache directory."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import settings

# CI runs the same examples every time (a red CI must be reproducible); locally hypothesis
# explores new examples on each run.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Compiled kernels of the test session go to a fresh directory unless the caller chose one.
os.environ.setdefault("TAYLORJIT_CACHE_DIR", tempfile.mkdtemp(prefix="taylorjit-tests-"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh disk-cache directory for one test, with the in-memory cache emptied around it."""
    from taylorjit._jit.context import jit_context

    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TAYLORJIT_CACHE", raising=False)
    jit_context().clear_memory_cache()
    yield tmp_path
    jit_context().clear_memory_cache()
