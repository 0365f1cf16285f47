"""The timing allocator setting: applied once, recorded with measurements."""

from __future__ import annotations

import sys

from sparoa_sim.real.measure import allocator


def test_keep_freed_memory_is_idempotent_and_recorded():
    first = allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() is first
    if sys.platform.startswith("linux"):
        assert first, "glibc's mallopt accepts both settings"
    from sparoa_sim.real.measure.profiler import host_info

    assert host_info()["allocator"] == (allocator.ALLOCATOR_NOTE if first else "default")


def test_off_linux_nothing_is_touched(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False  # monkeypatch restores the real state afterwards

