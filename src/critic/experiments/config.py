"""The book's protocol as a configuration: torch-free, so a command checks it before any
work (or any PyTorch import) starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from critic.errors import ConfigError, check_positive
from critic.models.network.config import NetworkConfig, TrainConfig


@dataclass(frozen=True)
class ReproduceConfig:
    """The book's protocol; every default is the book's."""

    num_words: int = 10_000
    validation_size: int = 10_000
    epochs: int = 20
    final_epochs: int | str = 4  # or "auto": the epoch with the lowest validation loss
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_positive("num_words", self.num_words)
        check_positive("validation_size", self.validation_size)
        check_positive("epochs", self.epochs)
        if self.final_epochs != "auto":
            check_positive("final_epochs", self.final_epochs)
        if self.network.input_dim != self.num_words:
            raise ConfigError("the network's input_dim must equal num_words")


def parse_final_epochs(text: str) -> int | str:
    """``"4"`` → 4, ``"auto"`` → ``"auto"`` (the epoch of lowest validation loss)."""
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"`final_epochs` must be a positive integer or 'auto', not {text!r}",
                          parameter="final_epochs") from None


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PretrainConfig:
    """Word2Vec's settings for ``critic pretrain``; each field is an option of its name."""

    dimension: int = _setting(100, "Numbers per word vector.")
    window: int = _setting(5, "Words either side that make a word's context.")
    min_count: int = _setting(5, "Fewest occurrences a word needs to get a vector.")
    epochs: int = _setting(5, "Passes over the reviews.")
    skip_gram: bool = _setting(False, "Skip-gram instead of CBOW (slower; better for rare "
                               "words).")
    seed: int = _setting(0, "Seed for the initial vectors and IMDB's shuffle.")

    def __post_init__(self) -> None:
        for name in ("dimension", "window", "min_count", "epochs"):
            check_positive(name, getattr(self, name))
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"`seed` must be in [0, 2**32). Received: seed={self.seed}",
                              parameter="seed")
