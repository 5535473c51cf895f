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


class TreePeakRss:
    """The peak of the summed RSS of a process and all its descendants (workers, resource tracker), sampled.

    Each process's own VmHWM cannot be added up (their peaks need not coincide), so a thread sums the RSS of the
    whole process tree every ``interval`` seconds while the process runs.

    Usage::

        with TreePeakRss(process.pid) as tree:
            process.join()
        tree.peak_mb
    """

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid = pid
        self.interval = interval
        self.peak_mb = 0.0
        self.peak_at = float("nan")  # time.time() of the peak sample, to tell which phase of the run it fell in

    def __enter__(self) -> TreePeakRss:
        import threading

        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += process.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
            except psutil.NoSuchProcess:
                return
            self._record(total / 1024**2)
            self._done.wait(self.interval)

    def _record(self, mb: float) -> None:
        import time

        if mb > self.peak_mb:
            self.peak_mb, self.peak_at = mb, time.time()


class PhasePeakRss(TreePeakRss):
    """The peak summed RSS of this process and its descendants during each phase of a run (sampled), so a long
    job's memory can be laid at the door of the phase that used it.

    Usage::

        with PhasePeakRss() as phases:
            phases.enter("reading")
            ...
            phases.enter("writing")
            ...
        phases.peaks_mb  # {"reading": ..., "writing": ...}; peak_mb: the whole run's
    """

    def __init__(self, interval: float = 0.25):
        import os
        import threading

        super().__init__(os.getpid(), interval)
        self.peaks_mb: dict[str, float] = {}
        self._phase: str | None = None
        self._lock = threading.Lock()

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self.enter(None)

    def _record(self, mb: float) -> None:
        with self._lock:
            self.peak_mb = max(self.peak_mb, mb)
            if self._phase is not None:
                self.peaks_mb[self._phase] = max(self.peaks_mb.get(self._phase, 0.0), mb)

    def enter(self, phase: str | None) -> None:
        """Begin ``phase`` (the samples from now on count toward it)."""
        with self._lock:
            self._phase = phase
