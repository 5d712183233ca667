"""OperatorApp: the operator's terminal over the paper runtime (``app tui``).

The app reads state and triggers service APIs; it never decides. The runtime runs as a trio guest on this
app's loop (``bridge``); its events update ``state`` and the screens redraw at most ``REFRESH_S`` apart, so a
max-speed replay costs the trading loop a bounded amount of drawing. Every action that changes something
goes to the runtime on the trio side and its answer (a Decision, a kill report) comes back as a message.
"""

from __future__ import annotations

import asyncio
import getpass
import signal
import time
import webbrowser
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType

from app.domain.decision import Decision
from app.domain.registry import StrategyFlag
from app.domain.values import Asset
from app.services.app_runtime import AppRuntime
from app.services.runtime_events import Killed
from app.tui.bridge import ServiceBridge
from app.tui.messages import ActionDone, RuntimeEvents, ServicesReady
from app.tui.screens.base import OperatorScreen
from app.tui.screens.dialogs import ConfirmDialog, TypedConfirmDialog
from app.tui.screens.help import HelpScreen
from app.tui.screens.log import LogScreen
from app.tui.screens.main import MainScreen
from app.tui.screens.strategies import StrategiesScreen
from app.tui.screens.validation import ValidationScreen
from app.tui.state import OperatorState

__all__ = ["OperatorApp"]

REFRESH_S = 0.1
BUSY_REFRESH_S = 0.5
"""Redraw at most every REFRESH_S; every BUSY_REFRESH_S while bars stream faster than that (a max-speed
replay), so drawing leaves the trading loop most of the time."""
NOTE_TOAST_S = 15.0  # seconds a note about the inputs stays on screen
DEFAULT_STEP = Decimal(100)


def _open_in_browser(path: Path) -> None:
    webbrowser.open(path.resolve().as_uri())


class OperatorApp(App[None]):
    TITLE = "app"
    SUB_TITLE = "paper trading"
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = {
        "main": MainScreen,
        "strategies": StrategiesScreen,
        "validation": ValidationScreen,
        "log": LogScreen,
    }
    DEFAULT_MODE = "main"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("m", "switch_mode('main')", "Main"),
        Binding("s", "switch_mode('strategies')", "Strategies"),
        Binding("v", "switch_mode('validation')", "Validation"),
        Binding("g", "switch_mode('log')", "Log"),
        Binding("p", "pause", "Pause/resume"),
        Binding("K", "kill_all", "Kill all"),
        Binding("t", "toggle_theme", "Theme"),
    ]

    def __init__(
        self,
        runtime: AppRuntime,
        *,
        home: Path,
        who: str | None = None,
        allocation_steps: Mapping[Asset, Decimal] | None = None,
        open_path: Callable[[Path], None] = _open_in_browser,
        handle_signals: bool = False,
        event_capacity: int = 8192,
        notes: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.home = home
        self.who = who or getpass.getuser()
        self.allocation_steps = dict(allocation_steps or {})
        self.open_path = open_path
        self.handle_signals = handle_signals
        self.state = OperatorState()
        self.selected_asset = Asset.SPOT
        self.bridge = ServiceBridge(runtime, self.post_message, capacity=event_capacity)
        self.notes = tuple(notes)  # about the inputs: on the message line and as notifications at the start
        self.services_ready = asyncio.Event()
        self.run_finished = asyncio.Event()
        self.actions_done = 0
        self.action_settled = asyncio.Event()
        self.latencies_ms: deque[float] = deque(maxlen=100_000)
        self.failure: BaseException | None = None
        self._dirty: set[str] = set()
        self._redraw_pending = False
        self._last_redraw = 0.0
        self._bars_drawn = 0
        self._bars_per_redraw = 0

    # -- life cycle --------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, lambda: self.call_next(self.action_quit))
        self.bridge.start(host_uses_signal_set_wakeup_fd=self.handle_signals)
        if self.notes:
            # The message line holds one line: each note is also a notification, wrapped whole.
            self.say("; ".join(self.notes))
            for note in self.notes:
                self.notify(note, title="about the inputs", timeout=NOTE_TOAST_S)
        self.run_worker(self._supervise(), name="services", exit_on_error=False)

    async def _supervise(self) -> None:
        try:
            await self.bridge.wait()
        except Exception as e:
            self.failure = e
            self.state.services = "failed"
            self.say(f"the services stopped with an error: {e!r}")
            self.run_finished.set()

    async def action_quit(self) -> None:
        """Stop the services cleanly (their final journal entries written), then leave."""
        self.say("stopping the services…")
        await self.bridge.stop()
        self.exit()

    async def on_unmount(self) -> None:
        await self.bridge.stop()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    # -- updates from the services -----------------------------------------------------------------------

    def on_services_ready(self, message: ServicesReady) -> None:
        self._mark(self.state.load(message.snapshot, message.trades, message.journal))
        self._refresh_live_reasons()
        if self.state.assets and self.selected_asset not in self.state.assets:
            self.selected_asset = self.state.assets[0]
        self.services_ready.set()
        if self.state.finished:
            self.run_finished.set()

    def on_runtime_events(self, message: RuntimeEvents) -> None:
        self.state.dropped = message.dropped
        dirty = self.state.apply(message.batch)
        if "controls" in dirty:
            self._refresh_live_reasons()
        if "run" in dirty:
            self.run_finished.set()
        self._mark(dirty)

    def on_action_done(self, message: ActionDone) -> None:
        result = message.result
        if isinstance(result, Exception):
            self.say(f"{message.label} failed: {result}", toast=True)
        elif isinstance(result, Decision):
            verdict = "ok" if result.allowed else "refused"
            self.say(f"{message.label}: {verdict}: {result.reason}", toast=not result.allowed)
        elif isinstance(result, Killed):
            self.say(result.summary(), toast=True)
        elif isinstance(result, list) and all(isinstance(k, Killed) for k in result):
            self.say(" | ".join(k.summary() for k in result) or "nothing to kill", toast=True)
        self.actions_done += 1
        self.action_settled.set()

    def say(self, text: str, *, toast: bool = False) -> None:
        """Show the outcome of an action on the message line (and, when it matters, as a notification)."""
        self.state.message = text
        self._mark({"message"})
        if toast and self.is_running:
            self.notify(text, timeout=4, severity="warning")

    def _mark(self, dirty: set[str] | frozenset[str]) -> None:
        self._dirty |= dirty
        if self._redraw_pending or not self._dirty:
            return
        self._redraw_pending = True
        interval = BUSY_REFRESH_S if self._bars_per_redraw > 2 else REFRESH_S
        wait = interval - (time.monotonic() - self._last_redraw)
        if wait > 0:
            self.set_timer(wait, self._redraw)
        else:
            self.call_next(self._redraw)

    def redraw_now(self) -> None:
        """Draw what changed without waiting for the next refresh slot."""
        self._redraw()

    def _redraw(self) -> None:
        self._redraw_pending = False
        self._last_redraw = time.monotonic()
        dirty, self._dirty = self._dirty, set()
        self._bars_per_redraw = self.state.bars - self._bars_drawn
        self._bars_drawn = self.state.bars
        try:
            screen = self.screen
        except ScreenStackError:
            return  # shutting down
        if isinstance(screen, OperatorScreen):
            screen.show(self.state, dirty)
        published = self.state.last_bar_ns
        if "bar" in dirty and published is not None:
            self.call_after_refresh(self._record_latency, published)

    def _record_latency(self, published_ns: int) -> None:
        self.latencies_ms.append((time.perf_counter_ns() - published_ns) / 1e6)

    def _refresh_live_reasons(self) -> None:
        for asset in Asset:
            decision = self.runtime.live_preconditions(asset)
            self.state.live_reasons[asset] = decision.reason

    # -- operator actions --------------------------------------------------------------------------------

    def submit(self, label: str, action: Callable[[], Any]) -> None:
        if not self.bridge.submit(label, action):
            self.say(f"{label}: the services are not running")

    def select_asset(self, step: int) -> None:
        order = list(Asset)
        self.selected_asset = order[(order.index(self.selected_asset) + step) % len(order)]
        self.say(f"selected {self.selected_asset.value}")
        self._mark({"controls"})

    def action_help(self) -> None:
        sections = [("everywhere", list(self.BINDINGS))]
        for name, screen in self.MODES.items():
            sections.append((name, list(screen.BINDINGS)))
        self.push_screen(HelpScreen(sections))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.say(f"theme: {self.theme}")

    def action_pause(self) -> None:
        if self.state.controls.paused:
            self.submit("resume exploration", lambda: self.runtime.resume_exploration(self.who, "TUI"))
        else:
            self.submit("pause exploration", lambda: self.runtime.pause_exploration(self.who, "TUI"))

    def action_kill(self) -> None:
        asset = self.selected_asset
        body = (
            f"Cancel every working {asset.value} order, flatten its positions with reduce-only market orders "
            "and block new entries until released?"
        )

        def confirmed(ok: bool | None) -> None:
            if ok:
                why = "kill key (TUI)"
                self.submit(f"kill {asset.value}", lambda: self.runtime.kill(asset, self.who, why))

        self.push_screen(ConfirmDialog(f"Kill {asset.value.upper()}", body), confirmed)

    def action_kill_all(self) -> None:
        body = "Kill EVERY asset: cancel all working orders, flatten all positions, block all new entries?"

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.submit("kill all", lambda: self.runtime.kill_all(self.who, "kill-all key (TUI)"))

        self.push_screen(ConfirmDialog("Kill ALL assets", body), confirmed)

    def action_release(self) -> None:
        asset = self.selected_asset
        if asset not in self.state.controls.killed:
            self.say(f"{asset.value} is not killed")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.submit(f"release {asset.value}", lambda: self.runtime.release(asset, self.who, "TUI"))

        self.push_screen(ConfirmDialog(f"Release {asset.value}", "Allow new entries again?"), confirmed)

    def action_live(self) -> None:
        asset = self.selected_asset
        ready = self.runtime.live_preconditions(asset)
        if not ready.allowed:
            self.say(f"live refused: {ready.reason}", toast=True)
            return

        def typed(text: str | None) -> None:
            if text is not None:
                self.submit(f"live {asset.value}", lambda: self.runtime.enable_live(asset, text, self.who))

        body = f"Preconditions hold ({ready.reason}). Type the asset's name to switch it to LIVE trading."
        self.push_screen(TypedConfirmDialog(f"Go live on {asset.value.upper()}", body, asset.value), typed)

    def action_allocation(self, direction: int) -> None:
        asset = self.selected_asset
        delta = self.allocation_steps.get(asset, DEFAULT_STEP) * direction
        label = f"allocation {asset.value} {delta:+}"
        self.submit(label, lambda: self.runtime.adjust_allocation(asset, delta))

    def set_flag(self, strategy_id: str, flag: StrategyFlag, on: bool, reason: str) -> None:
        verb = "set" if on else "clear"
        self.submit(
            f"{verb} {flag.value} on {strategy_id}",
            lambda: self.runtime.set_strategy_flag(strategy_id, flag, on, self.who, reason),
        )
