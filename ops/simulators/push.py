"""Signed webhook delivery shared by the simulators that push (transport, grassroots)."""

from __future__ import annotations

import threading

import httpx

from connectors.sinks.signing import signed_headers


class SignedPusher:
    """Mixin: POST bodies to ``self.webhook_url`` with the hub's signature headers.

    The simulator sets ``webhook_url``, ``secret``, ``retries``, ``_client`` (an
    :class:`httpx.Client`), ``_stop`` (a :class:`threading.Event`), ``_thread`` (``None``) and the
    counters ``delivered`` / ``failed``.
    """

    webhook_url: str | None
    secret: str
    retries: int
    delivered: int
    failed: int
    _client: httpx.Client
    _stop: threading.Event
    _thread: threading.Thread | None

    def _push(self, body: bytes, delivery: str) -> None:
        """POST ``body``; retry non-2xx answers and connection errors with the same body and id.

        Backoff starts at 0.05 s and doubles (at most 2 s); :meth:`stop` cuts the wait short.
        """
        delay = 0.05
        for _ in range(self.retries + 1):
            headers = {"Content-Type": "application/json", **signed_headers(self.secret, body, delivery)}
            try:
                if self._client.post(self.webhook_url, content=body, headers=headers).is_success:
                    self.delivered += 1
                    return
            except httpx.TransportError:
                pass
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, 2.0)
        self.failed += 1

    def _push_initial(self) -> None:
        """Emit the initial ``count`` events from a background thread: the webhook may answer slowly."""
        self._thread = threading.Thread(target=self.emit, args=(self.initial_count,),
                                        name=f"{self.system}-pusher", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the initial pushes are done."""
        if self._thread:
            self._thread.join(timeout)
