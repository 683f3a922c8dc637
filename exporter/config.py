"""Exporter configuration: one immutable value built by the CLI and passed to every part.

Keeping limits and label sets in one frozen dataclass lets tests build an exporter with
tiny limits (or a fake clock) without touching flags, environment or globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from txwatch import contract


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
    auth_codes: tuple[str, ...] = contract.AUTH_CODES
    limits: Limits = field(default_factory=Limits)
    state_dir: Path | None = None
    token: str | None = None
    idempotency_ttl_seconds: float = 48 * 3600.0
    idempotency_max_keys: int = 500_000
    minutes_kept: int = 180

    def labels(self, kind: contract.Kind) -> tuple[str, ...]:
        """The label values accepted for a kind of count (statuses or auth codes)."""
        return self.statuses if kind is contract.TRANSACTIONS else self.auth_codes
