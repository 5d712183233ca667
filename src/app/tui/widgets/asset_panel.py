"""One asset's panel: balance, equity, reward (session P&L), epoch, allocation, paper/live state, flags.

In the Live pane the panel says plainly that live trading is off and why (the runtime's precondition answer).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from app.domain.values import Asset
from app.tui.formatting import money, signed
from app.tui.state import OperatorState

__all__ = ["AssetPanel"]


class AssetPanel(Widget):
    DEFAULT_CSS = """
    AssetPanel { height: 9; border: round $panel-lighten-2; padding: 0; }
    AssetPanel.-selected { border: double $accent; }
    AssetPanel.-killed { border: heavy $error; }
    """

    def __init__(self, asset: Asset, *, live: bool = False) -> None:
        super().__init__(id=f"{'live' if live else 'paper'}-{asset.value}")
        self.asset = asset
        self.live = live
        self._lines: list[tuple[str, str, str]] = []
        self._heading = Text(asset.value.upper(), "bold")

    def show(self, state: OperatorState, *, selected: bool) -> None:
        asset = self.asset
        killed = asset in state.controls.killed
        self.set_class(selected, "-selected")
        self.set_class(killed and not self.live, "-killed")
        if self.live:
            self._heading = Text.assemble((asset.value.upper(), "bold"), " · ", ("LIVE OFF", "bold reverse"))
            reason = state.live_reasons.get(asset, "live trading is not built in this release")
            self._lines = [("", reason, "")]
            self.refresh()
            return
        account = state.accounts.get(asset)
        traded = asset in state.assets
        mode = "paper" if traded else "idle"
        self._heading = Text.assemble((asset.value.upper(), "bold"), f" · {mode}")
        reward = state.rewards.get(asset, account.realized_pnl if account else None)
        epoch = state.epochs.get(asset)
        allocation = state.controls.allocations.get(asset)
        paused = state.controls.paused and traded
        flags = [name for name, on in (("killed", killed), ("paused", paused)) if on]
        style = "" if reward is None or reward == 0 else "green" if reward > 0 else "red"
        self._lines = [
            ("balance", money(account.cash) if account else "-", ""),
            ("equity", money(account.equity) if account else "-", ""),
            ("reward", signed(reward) if account else "-", style),
            ("epoch", str(epoch) if epoch is not None else "-", ""),
            ("alloc", money(allocation), ""),
            ("flags", ", ".join(flags) or "-", "bold red" if flags else ""),
        ]
        self.refresh()

    def render(self) -> Text:
        width = max(self.size.width, 12)
        out = Text()
        out.append_text(self._heading)
        for label, value, style in self._lines:
            if not label:
                out.append("\n").append(value, "italic")
                continue
            room = width - len(value) - 1
            shown = label if room >= len(label) else label[: max(room, 1)]
            out.append("\n").append(shown, "dim")
            out.append(f"{value:>{width - len(shown)}}", style or None)
        return out
