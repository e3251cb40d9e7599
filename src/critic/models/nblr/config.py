"""The nblr family's settings: plain dataclasses, saved beside the weights; importing them
costs nothing (the estimator, with scikit-learn, is imported only to train)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from critic.errors import ConfigError

#: The C tried for unit-length rows: their entries are ~20x smaller than binary ones, so
#: the regularisation that suits them is weaker (chosen on the held-out movies: README).
UNIT_LENGTH_C_GRID = (10.0, 30.0, 100.0)


@dataclass(frozen=True)
class LinearConfig:
    """How ``nblr`` is fitted; ``C`` and ``beta`` are chosen on the validation split.

    Attributes:
        alpha: Naive Bayes smoothing of the log-count ratios.
        c_grid: inverse L2 regularisation strengths tried.
        beta_grid: interpolation weights tried (1.0 = plain NB-weighted logistic regression).
        unit_length: scale each review's NB-scaled features to length 1.
    """

    alpha: float = 1.0
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0)
    beta_grid: tuple[float, ...] = (0.25, 0.5, 1.0)
    unit_length: bool = False

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ConfigError(f"`alpha` must be positive. Received: alpha={self.alpha!r}")
        if not self.c_grid or any(not c > 0 for c in self.c_grid):
            raise ConfigError(f"`c_grid` must hold positive numbers. Received: {self.c_grid!r}")
        if not self.beta_grid or any(not 0 < b <= 1 for b in self.beta_grid):
            raise ConfigError("`beta_grid` must hold numbers in (0, 1]. "
                              f"Received: {self.beta_grid!r}")
        if not isinstance(self.unit_length, bool):
            raise ConfigError("`unit_length` must be True or False. "
                              f"Received: unit_length={self.unit_length!r}")

    @classmethod
    def with_unit_length(cls) -> LinearConfig:
        """Unit-length rows, with the C grid that suits them."""
        return cls(c_grid=UNIT_LENGTH_C_GRID, unit_length=True)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: Beyond this a review's sentences outweigh it so far that the fit overflows to NaN.
_MAX_SENTENCE_WEIGHT = 1_000


@dataclass(frozen=True)
class NblrSettings:
    """How ``nblr`` is fitted.

    Attributes:
        linear: the grids C and beta are chosen from, NB smoothing, unit-length rows.
        sentence_weight: in memory, each training sentence as an example of its review's
            label, weighing this much (0: none). Models trained on whole reviews call most
            short texts positive.
        seed: shuffles a file of the user's before it is split, and a stream's minibatches.
    """

    linear: LinearConfig = field(default_factory=LinearConfig)
    sentence_weight: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        weight = self.sentence_weight
        if isinstance(weight, bool) or not 0 <= weight <= _MAX_SENTENCE_WEIGHT:
            raise ConfigError("`sentence_weight` must be a number from 0 to "
                              f"{_MAX_SENTENCE_WEIGHT:,} (0.1 is nblr+sentences'). Received: "
                              f"sentence_weight={weight!r}", parameter="sentence_weight")
        seed = self.seed  # NumPy's generators take 0 … 2**32 - 1
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ConfigError("`seed` must be an integer from 0 to 4,294,967,295. "
                              f"Received: seed={seed!r}", parameter="seed")
