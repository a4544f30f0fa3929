"""A bounded least-recently-used map, for the few in-process memos that must stay small.

Why not ``functools.lru_cache``: it keys by the call's arguments, so a memo of findings per case
text (or of verified bearer tokens) would keep the text itself; callers here key by a digest.
Not thread-safe on its own: each caller already holds a lock around the work it remembers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """At most `limit` entries; reading one makes it the newest, adding past the limit drops the oldest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > max(self.limit, 0):
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)
