"""Names of recorded series: ``level:metric:operations`` over the metric contract."""

from __future__ import annotations

from txwatch.contract import Kind


def name(kind: Kind, level: str, operation: str) -> str:
    """A recorded series of ``kind``: level ``status``/``auth_code`` (per label value) or
    ``job`` (all of the job), e.g. ``status:payment_transactions:increase5m``."""
    return f"{level}:{kind.family}:{operation}"
