"""The provider's key masked in what it sends, before anything parses it.

A provider that echoes the Authorization header in an answer (an error message quoting
the request, a field holding it) must not put the key into a log, a message or the
state: every body passes `mask` (read whole) or `KeyMask` (read as it arrives).
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.core.redact import MASK

MASK_BYTES = MASK.encode()

# Takes a 2xx body's bytes in order, as they arrive; may raise ProviderError to stop reading.
Sink = Callable[[bytes], None]


def mask(content: bytes, key: bytes) -> bytes:
    return content.replace(key, MASK_BYTES) if key and key in content else content


class KeyMask:
    """Masks the provider's key in a body that arrives a chunk at a time, before `sink`
    sees it: the last `len(key) - 1` bytes wait for the next chunk, in case the key
    straddles two."""

    def __init__(self, key: bytes, sink: Sink) -> None:
        self._key, self._sink = key, sink
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        if not self._key:
            self._sink(chunk)
            return
        buffer = self._carry + chunk if self._carry else chunk
        cut = len(buffer) - (len(self._key) - 1)  # a whole key found must start before it
        parts: list[bytes] = []
        start = 0
        while 0 <= (found := buffer.find(self._key, start)) < cut:
            parts += (buffer[start:found], MASK_BYTES)
            start = found + len(self._key)
        end = max(start, cut)
        parts.append(buffer[start:end])
        self._carry = buffer[end:]
        self._sink(b"".join(parts))

    def close(self) -> None:
        """The body has ended: what waited cannot hold the whole key."""
        if self._carry:
            self._sink(self._carry)
        self._carry = b""
