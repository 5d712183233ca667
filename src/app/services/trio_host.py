"""The one bridge between asyncio and trio: trio services run as a guest on the host's asyncio loop.

Headless, the host is ``asyncio.run``; under the TUI it is Textual's loop. ``TrioGuest`` starts a trio function
with ``trio.lowlevel.start_guest_run``, can cancel it from the asyncio side, and hands back its result or error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import outcome
import trio

from app.domain.errors import AppError

__all__ = ["GuestCancelled", "TrioGuest", "run_trio_guest"]

T = TypeVar("T")


class TrioGuest(Generic[T]):
    """One trio run hosted by the running asyncio loop.

    ``start()`` must be called from inside the loop; ``cancel()`` asks the trio side to stop (its cancel
    scopes unwind, ``finally`` blocks run); ``wait()`` returns the trio function's value or raises its error.
    """

    def __init__(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> None:
        self._async_fn = async_fn
        self._args = args
        self._done: asyncio.Future[outcome.Outcome[T]] | None = None
        self._scope: trio.CancelScope | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel_requested = False

    def start(self, *, host_uses_signal_set_wakeup_fd: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        done = self._done

        def deliver(result: outcome.Outcome[T]) -> None:
            if not done.done():
                done.set_result(result)

        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=deliver,
            host_uses_signal_set_wakeup_fd=host_uses_signal_set_wakeup_fd,
        )

    async def _main(self) -> T:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            if self._cancel_requested:
                scope.cancel()
            return await self._async_fn(*self._args)
        msg = "the trio services were cancelled before they finished"
        raise GuestCancelled(msg)

    def cancel(self) -> None:
        """Ask the trio side to stop; safe to call at any time, more than once, from the asyncio thread."""
        self._cancel_requested = True
        if self._token is not None and self._scope is not None:
            scope = self._scope
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(scope.cancel)

    @property
    def running(self) -> bool:
        return self._done is not None and not self._done.done()

    async def wait(self) -> T:
        if self._done is None:
            msg = "TrioGuest.wait() called before start()"
            raise RuntimeError(msg)
        try:
            result = await asyncio.shield(self._done)
        except asyncio.CancelledError:
            self.cancel()
            await self._done
            raise
        return result.unwrap()


class GuestCancelled(AppError):
    """The guest run was cancelled from the host before its function returned."""


async def run_trio_guest(async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``async_fn(*args)`` under trio inside the running asyncio loop and return its result.

    Cancelling the awaiting asyncio task cancels the trio run and waits for it to unwind.
    """
    guest: TrioGuest[T] = TrioGuest(async_fn, *args)
    guest.start()
    return await guest.wait()
