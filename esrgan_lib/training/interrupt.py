"""Stopping a run cleanly: Ctrl-C (SIGINT) and SIGTERM (``kill``, a scheduler's pre-emption, Colab's
shutdown) ask the loop to finish its step and save a checkpoint; a second signal stops at once."""

from __future__ import annotations

import signal
import threading

__all__ = ["StopRequest"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """``requested`` becomes True on the first signal while installed; the second raises
    ``KeyboardInterrupt``. ``install()`` / ``restore()`` put back the caller's handlers."""

    def __init__(self):
        self.requested = False
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def install(self) -> None:
        """Take over SIGINT and SIGTERM (main thread only: elsewhere Python cannot)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
