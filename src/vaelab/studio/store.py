"""A bounded in-memory store: what the studio holds for its clients (uploads, morph results), least recently used
first out when it holds too many items or too many bytes. Nothing in it is ever written to disk."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict


class LRUStore:
    """Items under random ids, at most ``max_items`` of them and ``max_bytes`` by the sizes given to ``put``."""

    def __init__(self, max_items: int, max_bytes: int, prefix: str = ""):
        self.max_items, self.max_bytes, self.prefix = max_items, max_bytes, prefix
        self._items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, item, size: int) -> str:
        """Store ``item`` (``size`` bytes) and return its new id; the oldest items make room for it."""
        key = self.prefix + secrets.token_urlsafe(12)
        with self._lock:
            self._items[key] = (item, size)
            self._bytes += size
            self._evict(keep=key)
        return key

    def _evict(self, keep: str) -> None:
        """Drop the least recently used items (never ``keep``) until the bounds hold; the lock is held."""
        for key in list(self._items):
            if len(self._items) <= self.max_items and self._bytes <= self.max_bytes:
                break
            if key != keep:
                self._bytes -= self._items.pop(key)[1]

    def resize(self, key: str, size: int) -> None:
        """Count the item under ``key`` as ``size`` bytes from now on (it grew), evicting older items to make room."""
        with self._lock:
            if key not in self._items:
                return
            item, old = self._items[key]
            self._items[key] = (item, size)
            self._bytes += size - old
            self._evict(keep=key)

    def get(self, key: str):
        """The item under ``key`` (now the most recently used), or None when there is none or it was evicted."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes
