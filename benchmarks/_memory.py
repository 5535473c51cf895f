"""Memory measurement shared by the benchmark scripts."""

from __future__ import annotations


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Unlike ru_maxrss, it starts afresh at exec, so a spawned child does
    not inherit the peak of the parent it was forked from."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")
