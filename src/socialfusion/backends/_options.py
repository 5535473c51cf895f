"""The engine names and the options of a Ray job (no Ray import here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from socialfusion.exceptions import ConfigurationError

__all__ = ["ENGINES", "RayOptions", "check_engine"]

ENGINES = ("local", "ray")


def check_engine(engine: str) -> str:
    """``engine`` when it is one of ``ENGINES``.

    Raises:
        ConfigurationError: any other name.

    Examples:
        >>> check_engine("ray")
        'ray'
        >>> check_engine("spark")
        Traceback (most recent call last):
        ...
        socialfusion.exceptions.ConfigurationError: unknown engine 'spark'; expected one of ('local', 'ray')
    """
    if engine not in ENGINES:
        raise ConfigurationError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    return engine


@dataclass(frozen=True)
class RayOptions:
    """Where a Ray job runs and what each of its workers holds.

    Args:
        address: the cluster (``HOST:PORT`` of its head, ``ray://HOST:PORT`` for Ray Client, ``auto`` for the
            one this machine belongs to); None starts a local Ray runtime (or reuses the one this process has).
        workers: actors in each encoder's pool (each loads the model once); None: as many as the cluster's CPUs
            (or GPUs) allow, at least one.
        num_cpus: CPUs each worker reserves; an encoder with a ``num_threads`` option uses that many threads.
        num_gpus: GPUs each worker reserves (0: CPU only).
        connect_timeout: seconds to wait for the head of a remote cluster before giving up.
        runtime_env: Ray's runtime environment of the workers (``env_vars``, ``pip``, ...), e.g. to point them
            at a model folder; None: the cluster's own.
    """

    address: str | None = None
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    connect_timeout: float = 10.0
    runtime_env: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigurationError(f"Ray workers must be at least 1; got {self.workers}")
        if self.num_cpus <= 0 or self.num_gpus < 0:
            raise ConfigurationError(
                f"each Ray worker needs num_cpus > 0 and num_gpus >= 0; got num_cpus="
                f"{self.num_cpus}, num_gpus={self.num_gpus}"
            )
        if self.connect_timeout <= 0:
            raise ConfigurationError(f"connect_timeout must be positive; got {self.connect_timeout}")
