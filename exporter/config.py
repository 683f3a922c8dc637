"""Exporter configuration: one immutable value built by the CLI and passed to every part.

Keeping limits and label sets in one frozen dataclass lets tests build an exporter with
tiny limits (or a fake clock) without touching flags, environment or globals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from txwatch import contract
from txwatch.exporter import segments

# The flags that set the auth-code policy, named in refusals so a client's operator knows
# which knob to turn (the CLI defines them with these names).
AUTH_CODES_FLAG = "--payment.auth-codes"
AUTH_CODE_PATTERN_FLAG = "--payment.auth-code-pattern"
MAX_AUTH_CODES_FLAG = "--payment.max-auth-codes"


@dataclass(frozen=True)
class Limits:
    """Input limits; anything beyond them is rejected whole with a 4xx answer."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_records: int = 100_000
    max_count: int = 10_000_000
    max_future_seconds: float = 300.0
    min_timestamp: float = 946_684_800.0  # 2000-01-01T00:00:00Z: older is a typo, not data
    body_read_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Config:
    """Everything the exporter needs to know, fixed at start-up."""

    statuses: tuple[str, ...] = contract.STATUSES
    # Always exposed from 0; with ``auth_code_pattern`` None, the only codes accepted.
    auth_codes: tuple[str, ...] = contract.AUTH_CODES
    # Any code matching it (whole) is accepted too, up to ``max_auth_codes`` distinct codes
    # in all (the listed ones and those stored count): issuers answer dozens of codes.
    auth_code_pattern: str | None = contract.AUTH_CODE_PATTERN
    max_auth_codes: int = contract.MAX_AUTH_CODES
    # Labels records may carry besides their status or code (none: one flow, as before),
    # each with at most ``max_segment_values`` distinct values over the state's lifetime.
    dimensions: tuple[str, ...] = ()
    max_segment_values: int = contract.MAX_SEGMENT_VALUES
    limits: Limits = field(default_factory=Limits)
    state_dir: Path | None = None
    token: str | None = None
    idempotency_ttl_seconds: float = 48 * 3600.0
    idempotency_max_keys: int = 500_000
    minutes_kept: int = 180

    def __post_init__(self) -> None:
        segments.check_dimensions(self.dimensions)  # a bad name fails at start
        if self.max_segment_values < 1:
            raise ValueError(f"{segments.MAX_VALUES_FLAG} must be at least 1")
        if self.auth_code_pattern is not None:
            re.compile(self.auth_code_pattern)  # a bad pattern fails at start, not per push
            if self.max_auth_codes < len(self.auth_codes):
                raise ValueError(f"{MAX_AUTH_CODES_FLAG} must be at least "
                                 f"{len(self.auth_codes)}: the codes "
                                 f"{', '.join(self.auth_codes)} are always exposed")

    def labels(self, kind: contract.Kind) -> tuple[str, ...]:
        """The label values listed for a kind of count: exposed from 0 at start."""
        return self.statuses if kind is contract.TRANSACTIONS else self.auth_codes

    def pattern(self, kind: contract.Kind) -> re.Pattern[str] | None:
        """What unlisted label values must match to be accepted (None: the list only)."""
        if kind is not contract.AUTH_CODE_COUNTS or self.auth_code_pattern is None:
            return None
        return re.compile(self.auth_code_pattern)

    def bound(self, kind: contract.Kind) -> tuple[int, str] | None:
        """The most distinct label values a kind may reach, and the flag that raises it.

        None when only listed values are accepted: the list is then the bound.
        """
        if self.pattern(kind) is None:
            return None
        return self.max_auth_codes, MAX_AUTH_CODES_FLAG
