"""session_manager: paper sessions. Each asset's wallet starts at $1,000 with reward 0; a restart resumes it.

Wallet state (equity, reward, epochs) is one JSON document in the store's meta table; session starts and
epochs are also journal events. Paper equity changes only through realised P&L and bankroll top-ups.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from app.domain.session import Epoch, PaperRules, PaperWallet, start_session
from app.domain.values import Asset
from app.ports.clock import Clock
from app.ports.storage import Storage

__all__ = ["SessionManager"]

_META_KEY = "paper_session"


class SessionManager:
    def __init__(self, storage: Storage, clock: Clock, rules: Mapping[Asset, PaperRules]) -> None:
        self._storage = storage
        self._clock = clock
        self._rules = dict(rules)
        self._wallets: dict[Asset, PaperWallet] = {}

    def rules(self, asset: Asset) -> PaperRules:
        return self._rules[asset]

    def start_session(self) -> dict[Asset, PaperWallet]:
        """Resume the stored session; start a fresh wallet for any asset that has none."""
        self._wallets = _decode(self._storage.get_meta(_META_KEY))
        for asset, rules in self._rules.items():
            if asset not in self._wallets:
                wallet = start_session(asset, rules, self._clock.now())
                self._wallets[asset] = wallet
                self.save(wallet, "session_started", equity=str(wallet.equity))
        return dict(self._wallets)

    def resume_session(self) -> dict[Asset, PaperWallet]:
        """The stored wallets (after a restart), starting any that are missing."""
        return self.start_session()

    def wallet(self, asset: Asset) -> PaperWallet | None:
        return self._wallets.get(asset)

    def wallets(self) -> dict[Asset, PaperWallet]:
        return dict(self._wallets)

    def save(self, wallet: PaperWallet, event: str | None = None, **fields: str) -> None:
        self._wallets[wallet.asset] = wallet
        with self._storage.transaction():
            self._storage.set_meta(_META_KEY, _encode(self._wallets))
            if event is not None:
                self._storage.append_event(self._clock.now(), event, {"asset": wallet.asset.value, **fields})


def _encode(wallets: Mapping[Asset, PaperWallet]) -> str:
    def one(w: PaperWallet) -> dict[str, Any]:
        data = attrs.asdict(w, recurse=False)
        data["asset"] = w.asset.value
        data["started_at"] = w.started_at.isoformat()
        data["epochs"] = [
            [e.number, e.at.isoformat(), str(e.equity_before), str(e.equity_after), e.reason]
            for e in w.epochs
        ]
        for key in ("equity", "reward", "topped_up", "shortfall"):
            data[key] = str(data[key])
        return data

    return json.dumps([one(w) for w in wallets.values()])


def _decode(raw: str | None) -> dict[Asset, PaperWallet]:
    if not raw:
        return {}
    wallets = {}
    for item in json.loads(raw):
        wallet = PaperWallet(
            asset=Asset(item["asset"]),
            equity=Decimal(item["equity"]),
            reward=Decimal(item["reward"]),
            epoch=int(item["epoch"]),
            epochs=tuple(
                Epoch(int(n), datetime.fromisoformat(at), Decimal(b), Decimal(a), reason)
                for n, at, b, a, reason in item["epochs"]
            ),
            started_at=datetime.fromisoformat(item["started_at"]),
            topped_up=Decimal(item["topped_up"]),
            shortfall=Decimal(item["shortfall"]),
        )
        wallets[wallet.asset] = wallet
    return wallets
