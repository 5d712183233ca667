"""The trio side of the TUI. The runtime runs as a trio guest on Textual's own asyncio loop (one thread), so
the bridge hands updates to the app with ``post_message`` and runs the operator's actions in the guest's
nursery (through the trio token: Textual code never calls trio directly).

After the feed ends the guest stays up, so the operator can still look, kill or flatten, until quit.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

import trio
from textual.message import Message

from app.services.app_runtime import AppRuntime
from app.services.runtime_events import Subscription
from app.services.trio_host import GuestCancelled, TrioGuest
from app.tui.messages import ActionDone, RuntimeEvents, ServicesReady

__all__ = ["ServiceBridge"]

log = logging.getLogger("app.tui")

JOURNAL_LINES = 1000


class ServiceBridge:
    def __init__(
        self, runtime: AppRuntime, post: Callable[[Message], object], *, capacity: int = 8192
    ) -> None:
        self._runtime = runtime
        self._post = post
        self._capacity = capacity
        self._guest: TrioGuest[None] | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._delivered = 0
        self._progress: trio.Event | None = None

    @property
    def running(self) -> bool:
        return self._guest is not None and self._guest.running

    def start(self, *, host_uses_signal_set_wakeup_fd: bool = False) -> None:
        """Start the services on the running loop (call from Textual's ``on_mount``)."""
        self._guest = TrioGuest(self._main)
        self._guest.start(host_uses_signal_set_wakeup_fd=host_uses_signal_set_wakeup_fd)

    async def wait(self) -> None:
        """Until the services stop; re-raises an error they stopped with (not a requested stop)."""
        if self._guest is None:
            return
        with contextlib.suppress(GuestCancelled):
            await self._guest.wait()

    async def stop(self) -> None:
        """Cancel the services and wait until they have unwound (final journal entries written)."""
        if self._guest is None:
            return
        self._guest.cancel()
        try:
            await self.wait()
        except Exception:
            log.debug("services ended with an error while stopping", exc_info=True)

    def submit(self, label: str, action: Callable[[], Any]) -> bool:
        """Run ``action`` (sync or async) on the trio side; its result comes back as ``ActionDone``.

        Returns False when the services are not running (nothing was done).
        """
        if self._token is None or self._nursery is None or not self.running:
            return False
        try:
            self._token.run_sync_soon(self._nursery.start_soon, self._perform, label, action)
        except trio.RunFinishedError:
            return False
        return True

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        subscription = self._runtime.events.subscribe(self._capacity)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._run_runtime)
                self._nursery = nursery
                nursery.start_soon(self._pump, subscription)
        finally:
            self._nursery = None
            subscription.close()

    async def _run_runtime(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._runtime.run(task_status=_SnapshotWhenStarted(self._post_snapshot, task_status))

    def _post_snapshot(self) -> None:
        runtime = self._runtime
        self._post(ServicesReady(runtime.snapshot(), runtime.closed_trades(), runtime.journal(JOURNAL_LINES)))

    async def _pump(self, subscription: Subscription) -> None:
        dropped = 0
        while True:
            batch = await subscription.receive_batch()
            if subscription.dropped != dropped:
                # Fell behind: what was dropped is in a fresh snapshot; the batch's older part is skipped.
                dropped = subscription.dropped
                self._post_snapshot()
            self._post(RuntimeEvents(batch, dropped))
            self._delivered = batch[-1][0]
            if self._progress is not None:
                self._progress.set()
                self._progress = None

    async def _delivered_up_to(self, seq: int) -> None:
        """Until the pump has posted every event up to ``seq`` (so an action's answer never overtakes
        the events it caused)."""
        while self._delivered < seq:
            if self._progress is None:
                self._progress = trio.Event()
            await self._progress.wait()

    async def _perform(self, label: str, action: Callable[[], Any]) -> None:
        try:
            result = action()
            if inspect.isawaitable(result):
                result = await result
        except Exception as e:
            log.exception("operator action failed", extra={"action": label})
            result = e
        await self._delivered_up_to(self._runtime.events.seq)
        self._post(ActionDone(label, result))


class _SnapshotWhenStarted:
    """Takes the first snapshot the moment the runtime reports it started, before it processes a bar: every
    bar then reaches the screen as an event (the equity chart has all of them)."""

    def __init__(self, snapshot: Callable[[], None], status: trio.TaskStatus[None]) -> None:
        self._snapshot = snapshot
        self._status = status

    def started(self, value: None = None) -> None:
        self._snapshot()
        self._status.started(value)
