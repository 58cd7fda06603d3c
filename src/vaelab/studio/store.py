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
            while len(self._items) > 1 and (len(self._items) > self.max_items or self._bytes > self.max_bytes):
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old
        return key

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
