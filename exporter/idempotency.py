"""Remembered ``Idempotency-Key`` answers, bounded in age and in number.

A retried request must be answered as before and not applied twice. Keys live at least the
configured TTL (48 h by default, the contract promises 24 h) unless the count bound is hit
first, which protects memory against a client that sends a fresh key with every record.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Remembered:
    """What was answered for a key, and a digest of the body it was answered for."""

    body_digest: str
    wall_time: float
    response: dict[str, Any]


class KeyCache:
    """Insertion-ordered map; not thread-safe on its own (the store holds the lock)."""

    def __init__(self, ttl_seconds: float, max_keys: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_keys = max_keys
        self._items: OrderedDict[str, Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, now: float) -> Remembered | None:
        item = self._items.get(key)
        if item is None or item.wall_time < now - self.ttl_seconds:
            return None
        return item

    def put(self, key: str, item: Remembered, now: float) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        self.expire(now)

    def expire(self, now: float) -> None:
        horizon = now - self.ttl_seconds
        items = self._items
        while items:
            oldest_key = next(iter(items))
            if len(items) <= self.max_keys and items[oldest_key].wall_time >= horizon:
                break
            del items[oldest_key]

    def dump(self) -> list[list[Any]]:
        return [[k, v.body_digest, v.wall_time, v.response] for k, v in self._items.items()]

    def load(self, rows: list[list[Any]], now: float) -> None:
        for key, digest, wall, response in rows:
            self._items[key] = Remembered(digest, wall, response)
        self.expire(now)
