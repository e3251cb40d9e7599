"""Sweeps on a Ray cluster: Ray tasks behind the interface of
:class:`concurrent.futures.Executor` that the local sweep uses."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class RayPool:
    """Ray tasks behind the part of :class:`concurrent.futures.Executor` a sweep uses:
    ``submit`` gives a :class:`Future`; ``shutdown(cancel_futures=True)`` cancels what has
    not finished. ``initializer(*initargs)`` runs once in each worker process, before its
    first task (the sweep loads the data there, as the local pool does)."""

    def __init__(self, ray: Any, *, initializer: Callable[..., None], initargs: tuple[Any, ...]
                 ) -> None:
        self._ray = ray
        self._refs: list[Any] = []
        self._remote = ray.remote(num_cpus=1, max_retries=2)(_with_initializer)
        self._initializer, self._initargs = initializer, initargs

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        ref = self._remote.remote(self._initializer, self._initargs, fn, *args)
        self._refs.append(ref)
        future: Future[Any] = ref.future()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for ref in self._refs:
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref)


_INITIALISED: set[tuple[Any, ...]] = set()


def _with_initializer(initializer: Callable[..., None], initargs: tuple[Any, ...],
                      fn: Callable[..., Any], *args: Any) -> Any:
    key = (initializer.__module__, initializer.__qualname__, *initargs)
    if key not in _INITIALISED:  # Ray reuses worker processes: once in each
        initializer(*initargs)
        _INITIALISED.add(key)
    return fn(*args)


def pool_factory(ray: Any) -> Callable[..., RayPool] | None:
    """What a sweep takes as ``pool``: a factory of Ray task pools, or ``None`` without a
    cluster."""
    if ray is None:
        return None
    return lambda **init: RayPool(ray, **init)
