"""The memory budget a training runs in: what decides between training in memory and from a
stream (:func:`critic.train_bundle`)."""

from __future__ import annotations

import os

from critic.errors import ConfigError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_memory(text: str) -> int:
    """``"2.5G"``, ``"600M"``, ``"4GB"`` or a number of bytes → bytes.

    Example:
        >>> parse_memory("1.5G")
        1610612736
    """
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    try:
        amount = float(cleaned[: len(cleaned) - len(unit)])
    except ValueError:
        amount = -1.0
    if not 0 < amount < float("inf"):
        raise ConfigError(f"{text!r} is not an amount of memory such as 2.5G or 600M",
                          parameter="memory_budget")
    return int(amount * _UNITS[unit])


def default_memory_budget() -> int:
    """A quarter of the machine's memory: room for the rest of what runs on it."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
