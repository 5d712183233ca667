"""bankroll_manager: paper top-ups. When an asset's paper equity falls to $10 or less it is topped up by
$1,000 and a new epoch begins (number, time, equity before and after, reason), journaled and persisted.

The broker's valuation is the truth: the wallet follows the account's equity, and a top-up is a deposit into
the simulated account. After a restart the deposits made so far are applied again to the rebuilt account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

import attrs

from app.domain.session import Epoch, PaperWallet, ensure_min_equity
from app.domain.values import AccountSnapshot, Asset
from app.ports.broker import Broker, PaperAccount
from app.services.session_manager import SessionManager

__all__ = ["BankrollManager"]

log = logging.getLogger("app.bankroll_manager")


class BankrollManager:
    def __init__(self, sessions: SessionManager, brokers: Mapping[Asset, Broker]) -> None:
        self._sessions = sessions
        self._brokers = dict(brokers)

    def restore_deposits(self, currencies: Mapping[Asset, str]) -> None:
        """Re-apply every top-up of the stored session to the rebuilt paper accounts."""
        for asset, wallet in self._sessions.wallets().items():
            broker = self._brokers.get(asset)
            if wallet.topped_up > 0 and isinstance(broker, PaperAccount):
                broker.deposit(currencies[asset], wallet.topped_up)

    async def ensure_min_equity(self, snapshot: AccountSnapshot) -> Epoch | None:
        """Follow the account's equity; top it up when it is at or below the threshold."""
        wallet = self._sessions.wallet(snapshot.asset)
        if wallet is None:
            return None
        start = wallet.epochs[0].equity_after
        synced = attrs.evolve(
            wallet,
            equity=max(snapshot.equity, Decimal(0)),
            reward=snapshot.equity - start - wallet.topped_up,
        )
        rules = self._sessions.rules(snapshot.asset)
        topped, epoch = ensure_min_equity(synced, rules, snapshot.ts)
        if epoch is None:
            if synced != wallet:
                self._sessions.save(synced)
            return None
        account = self._brokers.get(snapshot.asset)
        if isinstance(account, PaperAccount):
            account.deposit(snapshot.currency, rules.topup_amount)
        self.record_epoch(topped, epoch)
        return epoch

    def record_epoch(self, wallet: PaperWallet, epoch: Epoch) -> None:
        """Persist the topped-up wallet and journal its new epoch."""
        log.info("paper top-up", extra={"asset": wallet.asset.value, "epoch": epoch.number})
        self._sessions.save(
            wallet,
            "epoch_started",
            epoch=str(epoch.number),
            equity_before=str(epoch.equity_before),
            equity_after=str(epoch.equity_after),
            reason=epoch.reason,
        )
