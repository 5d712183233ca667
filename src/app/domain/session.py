"""Paper session and bankroll rules: the $1,000 start, the reward, top-ups and epochs.

Each asset's paper wallet starts at ``start_equity`` with a reward (the session's P&L) of 0. Its equity
changes only through realised P&L and top-ups: when equity is at or below ``topup_threshold`` it is topped
up by ``topup_amount`` and a new epoch begins. The session's start is epoch 1.

Paper equity never goes below 0. A realised loss larger than the equity (a futures gap through the stop,
say) takes the equity to 0; the part the wallet could not pay is kept as ``shortfall``, and the reward
still carries the whole loss, so the strategy is judged on what it really lost. The books always balance:
``equity == start_equity + topped_up + reward + shortfall``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import final

import attrs

from app.domain.errors import AppError, ValidationFailed
from app.domain.values import Asset

__all__ = [
    "Epoch",
    "PaperRules",
    "PaperWallet",
    "SessionError",
    "apply_realized_pnl",
    "ensure_min_equity",
    "start_session",
]

_ZERO = Decimal(0)


class SessionError(AppError):
    """A session rule was called with impossible arguments (a naive time, a non-finite amount)."""


@final
@attrs.frozen
class PaperRules:
    """Paper bankroll rules (defaults: start at $1,000; top up by $1,000 at $10 or less)."""

    start_equity: Decimal = Decimal(1000)
    topup_threshold: Decimal = Decimal(10)
    topup_amount: Decimal = Decimal(1000)

    def __attrs_post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        if self.topup_threshold < 0:
            problems.append(("topup_threshold", f"must be >= 0, got {self.topup_threshold}"))
        # A top-up must lift the wallet clear of the threshold, or one call would top up forever.
        if self.topup_amount <= self.topup_threshold:
            problems.append(("topup_amount", "must be above topup_threshold"))
        if self.start_equity <= self.topup_threshold:
            problems.append(("start_equity", "must be above topup_threshold"))
        if problems:
            raise ValidationFailed("paper rules", problems)


@final
@attrs.frozen
class Epoch:
    """The start of a stretch of a paper session: the session start (number 1) or a top-up."""

    number: int
    at: datetime
    equity_before: Decimal
    equity_after: Decimal
    reason: str


@final
@attrs.frozen
class PaperWallet:
    """One asset's paper bankroll. ``equity`` is realised (cash) equity; open positions are valued
    elsewhere. ``epoch`` is the current epoch's number; ``epochs`` every epoch so far, in order."""

    asset: Asset
    equity: Decimal
    reward: Decimal
    epoch: int
    epochs: tuple[Epoch, ...]
    started_at: datetime
    topped_up: Decimal = _ZERO
    shortfall: Decimal = _ZERO


def _check_time(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        msg = f"session times are timezone-aware UTC, got naive {at.isoformat()}"
        raise SessionError(msg)


def start_session(asset: Asset, rules: PaperRules, at: datetime) -> PaperWallet:
    """A fresh wallet: ``start_equity``, reward 0, epoch 1 beginning ``at``."""
    _check_time(at)
    first = Epoch(1, at, _ZERO, rules.start_equity, "session start")
    return PaperWallet(asset, rules.start_equity, _ZERO, 1, (first,), at)


def apply_realized_pnl(wallet: PaperWallet, pnl: Decimal) -> PaperWallet:
    """Book one realised P&L: equity moves by ``pnl`` but stops at 0 (the rest is ``shortfall``)."""
    if not pnl.is_finite():
        msg = f"realised P&L must be a finite amount, got {pnl}"
        raise SessionError(msg)
    raw = wallet.equity + pnl
    equity = max(raw, _ZERO)
    return attrs.evolve(
        wallet,
        equity=equity,
        reward=wallet.reward + pnl,
        shortfall=wallet.shortfall + (equity - raw),
    )


def ensure_min_equity(
    wallet: PaperWallet, rules: PaperRules, at: datetime
) -> tuple[PaperWallet, Epoch | None]:
    """Top the wallet up when its equity is at or below the threshold, starting a new epoch.

    Returns the wallet and the new epoch, or the wallet unchanged and None when no top-up was due.
    """
    _check_time(at)
    if wallet.equity > rules.topup_threshold:
        return wallet, None
    after = wallet.equity + rules.topup_amount
    reason = f"equity {wallet.equity} at or below {rules.topup_threshold}: topped up by {rules.topup_amount}"
    epoch = Epoch(wallet.epoch + 1, at, wallet.equity, after, reason)
    topped = attrs.evolve(
        wallet,
        equity=after,
        epoch=epoch.number,
        epochs=(*wallet.epochs, epoch),
        topped_up=wallet.topped_up + rules.topup_amount,
    )
    return topped, epoch
