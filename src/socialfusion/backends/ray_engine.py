"""The Ray engine: featurization and batch prediction on Ray actor pools, ingest parsing in Ray tasks.

The driver (this process) decides what to do exactly as the local engine does (``plan_encoder``, the ingest
chunking) and writes every result through the store's keyed, locked write path; Ray runs the compute: each
encoder is loaded once per actor of an ``ActorPoolStrategy`` pool, and Ray retries the work of an actor or a
node that dies. Rows are written by key (a row already stored is never stored again), so a job that fails or
is killed half-way is completed, with nothing duplicated, by running it again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from socialfusion import exceptions
from socialfusion.backends._options import RayOptions
from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, SocialFusionError, attempt_import
from socialfusion.featurize import CHUNK_ITEMS, EncoderRun, encode_items, encode_plan, plan_encoder, write_feature_rows
from socialfusion.schema import MEDIA_KINDS
from socialfusion.store import Store

__all__ = [
    "RAY_EXTRA",
    "EncodeWorker",
    "ModelWorker",
    "RayExecutor",
    "RayFeaturizer",
    "build_encoder",
    "original_error",
    "predict_on_ray",
    "predict_proba_on_ray",
    "start_ray",
]

logger = logging.getLogger(__name__)

RAY_EXTRA = "ray"
TEXT_BLOCK_ITEMS = 512  # texts per Ray block (a multiple of the batch size): enough work to hide the overhead
MEDIA_BLOCK_BATCHES = 2  # encoder batches of media items per Ray block
_LOCAL_ADDRESSES = (None, "auto", "local")


def start_ray(options: RayOptions) -> Any:
    """Connect this process to the cluster of ``options`` (or start a local Ray runtime); returns ``ray``.

    A process already connected keeps its connection. Usage statistics are off and no dashboard is started:
    nothing leaves the cluster.

    Raises:
        MissingDependencyError: Ray is not installed (the ``ray`` extra).
        ConfigurationError: the address is not ``HOST:PORT``, or nothing answers there within
            ``options.connect_timeout`` seconds.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = attempt_import("ray", RAY_EXTRA)
    attempt_import("ray.data", RAY_EXTRA)
    if options.address not in _LOCAL_ADDRESSES:
        _check_reachable(options.address, options.connect_timeout)
    if not ray.is_initialized():
        arguments: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if options.address not in _LOCAL_ADDRESSES:
            arguments["address"] = options.address
        elif options.address is None and not os.environ.get("RAY_ADDRESS"):
            arguments["include_dashboard"] = False  # only a runtime this process starts takes this argument
        else:
            arguments["address"] = options.address or "auto"
        ray.init(**arguments)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notices would mix with the output of commands
    return ray


def _check_reachable(address: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds, with a clear message, when nothing listens at a cluster's address."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(
            f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, or 'auto'); "
            "`ray start --head` prints the address of a new cluster"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConfigurationError(
            f"cannot reach the Ray cluster at {address!r} within {timeout:g} s ({error}); check that its head is "
            "running (`ray start --head` prints its address) and reachable from here, or leave the address out "
            "to start a local Ray runtime"
        ) from None


_RAISED_IN_WORKER = re.compile(r"socialfusion\.exceptions\.(\w+): (.+)")


def original_error(error: BaseException) -> SocialFusionError | None:
    """The socialfusion error a Ray task or actor raised, out of the exceptions Ray wraps it in, or None.

    A task's error is kept as its ``cause``; an actor whose constructor failed keeps only the text of its
    traceback, whose last socialfusion error is rebuilt.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, SocialFusionError):
            return current
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__
    found = _RAISED_IN_WORKER.findall(str(error))
    kind = getattr(exceptions, found[-1][0], None) if found else None
    if isinstance(kind, type) and issubclass(kind, SocialFusionError):
        with contextlib.suppress(TypeError):  # a class that needs more than a message: keep Ray's error
            return kind(found[-1][1])
    return None


def _reraised(error: BaseException) -> BaseException:
    """What to raise for an error of a Ray job: the socialfusion error inside it, else the error itself."""
    if isinstance(error, SocialFusionError):
        return error
    original = original_error(error)
    return error if original is None else type(original)(*original.args)


def _resources(options: RayOptions) -> dict[str, Any]:
    """The Ray options of one worker: its CPUs, GPUs when it asks for some, and its runtime environment."""
    resources: dict[str, Any] = {"num_cpus": options.num_cpus}
    if options.num_gpus:
        resources["num_gpus"] = options.num_gpus
    if options.runtime_env:
        resources["runtime_env"] = options.runtime_env
    return resources


def _worker_count(ray: Any, options: RayOptions) -> int:
    """``options.workers``, else as many workers as the cluster's CPUs hold (at least one)."""
    return options.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // options.num_cpus))


def build_encoder(name: str, options: dict[str, Any], threads: int) -> Any:
    """Encoder ``name`` limited to ``threads`` intra-op threads when it has that option and none was given."""
    from socialfusion.encoders import get_encoder

    if "num_threads" not in options:
        try:
            return get_encoder(name, num_threads=threads, **options)
        except TypeError as error:
            if "num_threads" not in str(error):
                raise
    return get_encoder(name, **options)


class EncodeWorker:
    """A Ray actor holding one encoder (loaded once) that turns blocks of items into feature rows.

    Args:
        name: the encoder.
        options: its constructor options.
        modality: its modality.
        kind: ``post`` or ``user``.
        version: the driver's encoder version; a worker with another (another model installed) refuses to run.
        batch_size: items per forward pass.
        threads: intra-op threads for encoders with a ``num_threads`` option.
    """

    def __init__(
        self, name: str, options: dict[str, Any], modality: str, kind: str, version: str, batch_size: int, threads: int
    ):
        self.encoder = build_encoder(name, options, threads)
        if self.encoder.version != version:
            raise ConfigurationError(
                f"encoder {name!r} is version {self.encoder.version!r} on a Ray worker and "
                f"{version!r} on the driver; install the same model on every node"
            )
        self.modality = modality
        self.kind = kind
        self.batch_size = batch_size

    def __call__(self, block: pa.Table) -> pa.Table:
        """Feature rows (``feature_schema``) of a block with columns ``item_id``, ``content_hash``, ``input``."""
        return encode_items(
            self.encoder,
            self.modality,
            self.kind,
            block.column("item_id").to_pylist(),
            block.column("content_hash").to_pylist(),
            block.column("input").to_pylist(),
            self.batch_size,
        )


class RayFeaturizer:
    """Runs ``featurize`` encoders on Ray: text and media encoders on an actor pool, the others in the driver.

    Graph and tabular encoders, and encoders that learn from the whole corpus (``fit``: TF-IDF, word vectors),
    run in the driver as the local engine runs them: they read every item at once.
    """

    def __init__(self, options: RayOptions):
        self.options = options
        self.ray = start_ray(options)

    def run_encoder(
        self,
        store: Store,
        corpus: Corpus,
        name: str,
        batch_size: int,
        progress: Callable[[str, int, int], None],
        options: dict[str, Any],
    ) -> EncoderRun:
        """The Ray twin of ``featurize._run_encoder``: same plan, same rows, written by the driver."""
        started = time.perf_counter()
        plan = plan_encoder(store, corpus, name, options)
        run = plan.run
        if plan.modality not in ("text", *MEDIA_KINDS) or hasattr(plan.encoder, "fit"):
            logger.info("%s reads the whole corpus: it runs in the driver", name)
            encode_plan(store, plan, batch_size, progress)
        else:
            progress(name, run.cached, run.items)
            pending: list[pa.Table] = []
            try:
                for rows in self._encoded_blocks(plan, corpus, name, batch_size, options.get(name, {})):
                    pending.append(rows)
                    if sum(part.num_rows for part in pending) >= CHUNK_ITEMS:
                        write_feature_rows(store, plan, pa.concat_tables(pending))
                        pending.clear()
                        progress(name, run.cached + run.encoded, run.items)
                if pending:
                    write_feature_rows(store, plan, pa.concat_tables(pending))
                    progress(name, run.cached + run.encoded, run.items)
            except Exception as error:  # Ray wraps what a worker raised; give the socialfusion error itself
                reraised = _reraised(error)
                if reraised is error:
                    raise
                raise reraised from None
        run.seconds = time.perf_counter() - started
        return run

    def _encoded_blocks(self, plan: Any, corpus: Corpus, name: str, batch_size: int, encoder_options: dict):
        """Feature rows of the plan's items, block by block as the actors finish them (in any order)."""
        ray, items = self.ray, plan.items
        if not plan.todo:
            return
        input_type = pa.string() if plan.modality == "text" else corpus.posts.schema.field("media").type
        todo = pa.table(
            {
                "item_id": [items.ids[i] for i in plan.todo],
                "content_hash": [items.hashes[i] for i in plan.todo],
                "input": pa.array([items.inputs[i] for i in plan.todo], input_type),
            }
        )
        # Blocks start at multiples of the batch size, so the encoder sees the batches the local engine forms.
        per_block = max(1, TEXT_BLOCK_ITEMS // batch_size) if plan.modality == "text" else MEDIA_BLOCK_BATCHES
        block = per_block * batch_size
        dataset = ray.data.from_arrow([todo.slice(start, block) for start in range(0, todo.num_rows, block)])
        threads = max(1, int(self.options.num_cpus))
        encoded = dataset.map_batches(
            EncodeWorker,
            fn_constructor_kwargs={
                "name": name,
                "options": encoder_options,
                "modality": plan.modality,
                "kind": items.kind,
                "version": plan.encoder.version,
                "batch_size": batch_size,
                "threads": threads,
            },
            batch_size=block,
            batch_format="pyarrow",
            compute=self._pool(),
            **_resources(self.options),  # Ray Data restarts lost actors and retries their blocks by default
        )
        yield from encoded.iter_batches(batch_format="pyarrow", batch_size=None)

    def _pool(self) -> Any:
        """A fixed pool of ``options.workers`` actors, else one growing up to what the cluster's resources hold."""
        if self.options.workers:
            return self.ray.data.ActorPoolStrategy(size=self.options.workers)
        resources = self.ray.cluster_resources()
        size = int(resources.get("CPU", 1) // self.options.num_cpus)
        if self.options.num_gpus:
            size = min(size, int(resources.get("GPU", 0) // self.options.num_gpus))
        return self.ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, size))


def _call_in_folder(folder: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` run from ``folder``, so relative paths mean what they meant to the driver."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        return fn(*args, **kwargs)
    finally:
        os.chdir(previous)


class RayExecutor(concurrent.futures.Executor):
    """A ``concurrent.futures`` executor whose calls run as Ray tasks (retried by Ray when a worker dies).

    Each task runs from the driver's current folder (which the nodes must share, like every input path).

    Args:
        options: the cluster (see ``start_ray``) and the CPUs each task reserves.
    """

    def __init__(self, options: RayOptions):
        self.ray = start_ray(options)
        self.options = options
        self._remote = self.ray.remote(max_retries=3, **_resources(options))(_call_in_folder)

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Run ``fn(*args, **kwargs)`` in a Ray task; its future gives the socialfusion error a task raised."""
        ray_future = self._remote.remote(os.getcwd(), fn, args, kwargs).future()
        future: concurrent.futures.Future = concurrent.futures.Future()

        def settle(done: concurrent.futures.Future) -> None:
            error = done.exception()
            if error is None:
                future.set_result(done.result())
            else:
                future.set_exception(_reraised(error))

        ray_future.add_done_callback(settle)
        return future

    @property
    def parallelism(self) -> int:
        """Tasks to keep running at once: ``options.workers``, else the cluster's CPUs over the CPUs of a task (at
        least one)."""
        return _worker_count(self.ray, self.options)


PREDICT_BLOCK_ITEMS = 4096  # posts (or examples) per prediction task


class ModelWorker:
    """A Ray actor holding one fitted model (sent once through the object store) that predicts blocks of items.

    Args:
        model: the fitted model.
        method: the model's method that turns a block into predictions (``predict_features``, ``predict_proba``).
    """

    def __init__(self, model: Any, method: str = "predict_features"):
        self.model = model
        self.method = method

    def predict(self, block: Any) -> Any:
        """``model.<method>(block)`` of one block."""
        return getattr(self.model, self.method)(block)


ACTOR_START_SECONDS = 30.0
"""How long the prediction pool waits for more than its first actor to start before it goes on without them."""


def _started(ray: Any, actors: list) -> list:
    """The actors that have started: at least one (waited for as long as the cluster needs), and any other that
    starts within ``ACTOR_START_SECONDS``; the rest are killed. The cluster's CPU count can promise more actors than
    can run (a node lost a moment ago, CPUs held by other work), and a block given to an actor that never starts
    would wait forever."""
    pending = {actor.__ray_ready__.remote(): actor for actor in actors}
    ready, waiting = ray.wait(list(pending), num_returns=1)
    if waiting:
        more, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=ACTOR_START_SECONDS)
        ready += more
    for reference in waiting:
        ray.kill(pending[reference])
    return [pending[reference] for reference in ready]


def _predict_blocks(model: Any, method: str, blocks: list, options: RayOptions | None) -> list:
    """``model.<method>(block)`` of each block, computed on a pool of Ray actors (retried when one dies), in order."""
    options = options or RayOptions()
    ray = start_ray(options)
    size = _worker_count(ray, options)
    worker = ray.remote(max_restarts=-1, max_task_retries=-1, **_resources(options))(ModelWorker)
    shared = ray.put(model)
    actors = _started(ray, [worker.remote(shared, method) for _ in range(min(size, len(blocks)))])
    pool = attempt_import("ray.util", RAY_EXTRA).ActorPool(actors)
    try:
        return list(pool.map(lambda actor, block: actor.predict.remote(block), blocks))
    except Exception as error:  # Ray wraps what a worker raised; give the socialfusion error itself
        reraised = _reraised(error)
        if reraised is error:
            raise
        raise reraised from None
    finally:
        for actor in actors:
            ray.kill(actor)


def predict_on_ray(model: Any, features: Any, options: RayOptions | None) -> pa.Table:
    """``model.predict_features(features)`` computed block by block on a pool of Ray actors, rows in order.

    Args:
        model: a fitted model with ``predict_features`` (e.g. ``SentimentModel``).
        features: ``ModalityFeatures`` of the items, in order.
        options: the cluster and the workers (default: a local Ray runtime, one worker per CPU).

    Returns:
        What ``model.predict_features(features)`` returns, the same rows in the same order.
    """
    if len(features) == 0:
        start_ray(options or RayOptions())
        return model.predict_features(features)
    blocks = [
        features.subset(range(start, min(start + PREDICT_BLOCK_ITEMS, len(features))))
        for start in range(0, len(features), PREDICT_BLOCK_ITEMS)
    ]
    return pa.concat_tables(_predict_blocks(model, "predict_features", blocks, options))


def predict_proba_on_ray(model: Any, examples: pa.Table, options: RayOptions | None) -> np.ndarray:
    """``model.predict_proba(examples)`` computed block by block on a pool of Ray actors, rows in order.

    Args:
        model: a fitted model whose ``predict_proba`` takes a table of examples and scores each row on its own
            (e.g. ``EngagementModel``).
        examples: the rows to score.
        options: the cluster and the workers (default: a local Ray runtime, one worker per CPU).

    Returns:
        ``(n, classes)``: what ``model.predict_proba(examples)`` returns.
    """
    if examples.num_rows == 0:
        start_ray(options or RayOptions())
        return model.predict_proba(examples)
    blocks = [  # copies (take), not slices: a pickled slice carries its table's whole buffers
        examples.take(np.arange(start, min(start + PREDICT_BLOCK_ITEMS, examples.num_rows)))
        for start in range(0, examples.num_rows, PREDICT_BLOCK_ITEMS)
    ]
    return np.concatenate(_predict_blocks(model, "predict_proba", blocks, options))
