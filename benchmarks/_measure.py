"""Run one command in a child process and report its wall time and peak RSS.

Each measurement runs in its own wrapper process, so ``RUSAGE_CHILDREN`` sees exactly one
child: the peak RSS reported is that command's alone.

Every command runs with Python's bytecode cache on, whatever the environment says: with
``PYTHONDONTWRITEBYTECODE`` set (as in some containers) every process compiles its imports'
sources again (2.3 s of PyTorch's, more of TensorFlow's), which is not the work being
compared. :func:`warm_up` runs a command once, untimed, so that both sides of a comparison
start from written bytecode and a warm file cache.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "returncode": done.returncode,
                  "stdout": done.stdout}))
"""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mb: float
    stdout: str


def cached_bytecode(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with Python's bytecode cache written and read."""
    return {name: value for name, value in (env or os.environ).items()
            if name != "PYTHONDONTWRITEBYTECODE"}


def measure(command: list[str], *, env: dict[str, str] | None = None) -> Measurement:
    """Run ``command``; fail loudly if it fails, else return its time, peak RSS and stdout."""
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True,
                          text=True, env=cached_bytecode(env), check=True)
    result = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {result['returncode']}")
    return Measurement(result["seconds"], result["peak_mb"], result["stdout"])


def warm_up(command: list[str], *, env: dict[str, str] | None = None) -> None:
    """Run ``command`` once, untimed: its modules' bytecode written, its files in the cache."""
    measure(command, env=env)


def own_peak_mb() -> float:
    """Peak RSS of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stopwatch() -> float:
    return time.perf_counter()
