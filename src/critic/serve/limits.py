"""What one request may ask for and how long it may take to arrive: each limit has a
``critic serve`` option of its name (made from the fields here, with their help), so the
command line and the service never disagree on a name or a default."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from critic.errors import check_positive


def _limit(default: int, help: str) -> int:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Limits:
    """What one request may ask for and how long it may take to arrive.

    Beyond these the service answers 408 (too slow), 413 (too large), 431 (headers too large)
    or 503 with ``Retry-After`` (overloaded).
    """

    max_inputs: int = _limit(1_000, "Reviews per request (413 beyond).")
    max_chars: int = _limit(100_000, "Characters per review (413 beyond).")
    max_body_bytes: int = _limit(10_000_000, "Request body size (413 beyond).")
    max_concurrent: int = _limit(64, "Requests being scored at once, per worker (503 with "
                                 "Retry-After beyond).")
    max_explain_chars: int = _limit(1_000_000, "Characters explained in one request (413 "
                                    "beyond; about a second of work).")
    max_header_bytes: int = _limit(16_384, "Request line and headers (431 beyond).")
    read_timeout_ms: int = _limit(10_000, "Time to receive a request's headers, and then its "
                                  "body (408 beyond).")
    max_delay_ms: int = _limit(20, "Queueing delay beyond which new predictions are shed "
                               "(503 with Retry-After).")
    graceful_timeout_s: int = _limit(30, "On SIGTERM, time for the requests in flight to "
                                     "finish.")

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check_positive(name, value)

    @property
    def read_timeout(self) -> float:
        return self.read_timeout_ms / 1000
