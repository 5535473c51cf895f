"""Work in another process: a call run in a fresh interpreter beside the caller, and workers that die with it.

``run_beside(function, *args)`` starts a fresh Python process on the function's module and name, so
one analysis (the knowledge graph's entity recognition, the demo's topic model) uses a second core while the caller
goes on with the others; ``prepare_beside`` starts one early, to load its libraries while its inputs are made.
Unlike ``multiprocessing``'s spawn, the child never imports the caller's ``__main__``: a user's script without an
``if __name__ == "__main__"`` guard is not run twice. The arguments and the result travel as pickles through private
temporary files between two processes of the same program (nothing is ever unpickled from a store or a user's
file). Where a second process cannot help (one CPU) or cannot run, the call runs here.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from socialfusion._threads import NUM_THREADS_VARIABLE, usable_cpus

logger = logging.getLogger(__name__)

ONE_THREAD_POOLS = {NUM_THREADS_VARIABLE: "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                    "MKL_NUM_THREADS": "1"}
"""A background process's thread pools, socialfusion's and native ones (unless the environment sets them): it runs
beside the caller, on one core; pools sized for every core would spin-wait on each other and on the caller
(``socialfusion._threads``). It also runs its own ``run_beside`` calls inline."""


BACKGROUND_NICENESS = 10
"""How much a background process yields the CPU (its Unix niceness): the caller, which goes on with its own work and
waits for the answer only at the end, keeps its core when more processes than cores run (the demo starts two
beside it), and they take the CPU time it leaves. A call needed later than another can yield more
(``run_beside_at``)."""


class BackgroundCall:
    """A call running in a child process; ``result()`` waits for it and returns its value or raises its error.

    With ``prepare`` (a module-level function of no arguments), the child runs ``prepare()`` at once and the call
    only once ``go()`` is called (``prepare_beside``).
    """

    def __init__(self, function: Callable[..., Any], args: tuple, kwargs: dict, niceness: int = BACKGROUND_NICENESS,
                 prepare: Callable[[], Any] | None = None):
        self._call = (function, args, kwargs)
        self._folder = Path(tempfile.mkdtemp(prefix="socialfusion-beside-"))
        preparation = None if prepare is None else (prepare.__module__, prepare.__qualname__)
        (self._folder / "call.pickle").write_bytes(pickle.dumps(
            (sys.path, function.__module__, function.__qualname__, args, kwargs, preparation),
            protocol=pickle.HIGHEST_PROTOCOL))
        self._process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from socialfusion._background import _serve; _serve(*sys.argv[1:])",
             str(self._folder), str(os.getpid()), str(niceness)],
            stdin=subprocess.DEVNULL if prepare is None else subprocess.PIPE, env={**ONE_THREAD_POOLS, **os.environ},
        )

    def go(self) -> None:
        """Let a prepared child run its call (its inputs are ready); nothing for a call that runs at once."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):  # the child died: result() runs the call here
                self._process.stdin.write(b"go")
                self._process.stdin.close()

    def result(self) -> Any:
        """The call's value, or its exception raised here (a prepared call is let go first). A child that died
        without an answer (killed, out of memory) is logged and the call is run in this process instead."""
        try:
            self.go()
            self._process.wait()
            answer = self._folder / "answer.pickle"
            if answer.exists():
                ok, value = pickle.loads(answer.read_bytes())
                if ok:
                    return value
                raise value
            logger.warning("the background process for %s ended with code %s and no answer; running it here",
                           self._call[0].__qualname__, self._process.returncode)
            function, args, kwargs = self._call
            return function(*args, **kwargs)
        finally:
            self._cleanup()

    def cancel(self) -> None:
        """Stop the child (when the caller no longer needs its answer)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
        self._cleanup()

    def _cleanup(self) -> None:
        for name in ("call.pickle", "answer.pickle", "answer.pickle.partial"):
            with contextlib.suppress(FileNotFoundError):
                (self._folder / name).unlink()
        with contextlib.suppress(OSError):
            self._folder.rmdir()


class InlineCall:
    """The same interface for a call made here, at ``result()``, when a second process would not help."""

    def __init__(self, function: Callable[..., Any], args: tuple, kwargs: dict):
        self._call = (function, args, kwargs)

    def result(self) -> Any:
        function, args, kwargs = self._call
        return function(*args, **kwargs)

    def go(self) -> None:
        pass

    def cancel(self) -> None:
        pass


def run_here(function: Callable[..., Any], *args: Any, **kwargs: Any) -> InlineCall:
    """``function(*args, **kwargs)``, made in this process when its ``result()`` is asked for: the interface of
    ``run_beside`` for work too small to be worth a second process."""
    return InlineCall(function, args, kwargs)


def run_beside(function: Callable[..., Any], *args: Any, **kwargs: Any) -> BackgroundCall | InlineCall:
    """Start ``function(*args, **kwargs)`` in a fresh Python process, beside this one, when this process may use
    more than one CPU (``socialfusion._threads.usable_cpus``: ``SOCIALFUSION_NUM_THREADS=1`` keeps every call
    here); otherwise the call runs here when its ``result()`` is asked for.

    The function must be a module-level function of an importable module (the child sees this process's
    ``sys.path``; a function of the ``__main__`` script runs here); its arguments and result must pickle. The child
    ends when this process does (``die_with_parent``) and runs at niceness ``BACKGROUND_NICENESS``.

    Returns:
        An object whose ``result()`` waits and returns the value (or raises the call's exception), and whose
        ``cancel()`` stops the child.
    """
    return run_beside_at(BACKGROUND_NICENESS, function, *args, **kwargs)


def run_beside_at(
    niceness: int, function: Callable[..., Any], *args: Any, **kwargs: Any
) -> BackgroundCall | InlineCall:
    """``run_beside`` with the child at Unix niceness ``niceness`` (0 to 19; the higher, the more it yields).

    Two calls beside a caller that leaves them one core share it by niceness: the one needed sooner, at the lower
    niceness, gets most of it, and the other the rest.
    """
    return _beside(niceness, None, function, args, kwargs)


def prepare_beside(
    niceness: int, prepare: Callable[[], Any], function: Callable[..., Any], *args: Any, **kwargs: Any
) -> BackgroundCall | InlineCall:
    """``run_beside_at``, but the child first runs ``prepare()`` (imports, models loaded: what does not need the
    call's inputs) and then waits for the caller's ``go()`` before ``function(*args, **kwargs)``.

    For work whose inputs are not ready yet while a core is idle: the demo starts its topic model's process before
    it generates and ingests the posts, on one core, and the topic model has its libraries loaded when they are in.
    ``result()`` lets the call go if the caller has not; ``cancel()`` stops it. Where the call runs here,
    ``prepare`` is not run (the call imports what it needs).
    """
    return _beside(niceness, prepare, function, args, kwargs)


def _beside(niceness: int, prepare: Callable[[], Any] | None, function: Callable[..., Any], args: tuple,
            kwargs: dict) -> BackgroundCall | InlineCall:
    """A ``BackgroundCall``, or an ``InlineCall`` where a second process cannot help or cannot start (one CPU, a
    function of the ``__main__`` script, no process)."""
    if usable_cpus() < 2 or "__main__" in (function.__module__, getattr(prepare, "__module__", None)):
        return InlineCall(function, args, kwargs)
    try:
        return BackgroundCall(function, args, kwargs, niceness, prepare)
    except OSError as error:  # no process could be started: run here
        logger.warning("cannot start a background process (%s); running %s here", error, function.__qualname__)
        return InlineCall(function, args, kwargs)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when the process that started it ends, even by SIGKILL.

    A killed parent cannot shut its pool down, and its workers (each holding a model or a chunk of a file)
    would otherwise live on. On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``);
    elsewhere, and as a second guard, a daemon thread exits once the parent is gone.
    """
    import ctypes
    import signal

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


_serving = False  # set by _serve: this process was started for one call


def in_background_process() -> bool:
    """Whether this process was started by ``run_beside`` (for one call, after which it ends)."""
    return _serving


def _serve(folder: str, parent_pid: str, niceness: str) -> None:
    """The child's side: run the call in ``folder`` at ``niceness`` and leave its answer there."""
    global _serving
    _serving = True
    die_with_parent(int(parent_pid))
    with contextlib.suppress(OSError, AttributeError):  # no os.nice on Windows
        os.nice(int(niceness) - os.nice(0))
    folder = Path(folder)
    path, module, qualname, args, kwargs, preparation = pickle.loads((folder / "call.pickle").read_bytes())
    sys.path[:] = [*path, *(entry for entry in sys.path if entry not in path)]  # the caller's, in its order
    function = _named(module, qualname)
    if preparation is not None:
        with contextlib.suppress(Exception):  # only a head start: the call itself raises what went wrong
            _named(*preparation)()
        if not sys.stdin.buffer.read(2):  # the caller closed the pipe without go(): it no longer wants the call
            return
    try:
        answer = (True, function(*args, **kwargs))
    except Exception as error:  # the caller raises it
        answer = (False, error)
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # an exception (or value) that does not pickle still reaches the caller, as text
        data = pickle.dumps((False, RuntimeError(f"{qualname} failed in the background: {answer[1]!r} ({error})")))
    partial = folder / "answer.pickle.partial"
    partial.write_bytes(data)
    partial.replace(folder / "answer.pickle")


def _named(module: str, qualname: str) -> Any:
    """The module-level object ``qualname`` of ``module``, imported."""
    value: Any = importlib.import_module(module)
    for part in qualname.split("."):
        value = getattr(value, part)
    return value
