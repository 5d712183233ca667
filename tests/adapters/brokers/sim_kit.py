"""Builders shared by the sim broker tests: an account, bars, intents, real futures data, event splitting."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from app.adapters.brokers.sim import SimBroker, SimConfig
from app.domain.fills import FillCosts
from app.domain.symbols import split_symbol
from app.domain.values import Asset, Candle, Fill, Instrument, Order, OrderIntent, Side
from app.ports.broker import BrokerEvent

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUTURES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "crypto_futures"


def rules(symbol: str, asset: Asset = Asset.SPOT) -> Instrument:
    base, quote = split_symbol(symbol)
    return Instrument(symbol, asset, base, quote, D("0.01"), D("0.001"), D("0.001"))


def fine_rules(symbol: str) -> Instrument:
    base, quote = split_symbol(symbol)
    return Instrument(symbol, Asset.FUTURES, base, quote, D("0.0001"), D("1"), D("1"))


def sim(
    *,
    cash: str = "100000",
    taker: str = "0",
    maker: str = "0",
    asset: Asset = Asset.SPOT,
    margin: bool = False,
    **kw: Any,
) -> SimBroker:
    costs = kw.pop("costs", FillCosts(taker_fee=D(taker), maker_fee=D(maker)))
    return SimBroker(
        SimConfig(
            asset=asset,
            currency="USD",
            starting_cash=D(cash),
            instruments=kw.pop("instruments", lambda s: rules(s, asset)),
            costs=costs,
            margin=margin,
            **kw,
        )
    )


def bar(
    i: int, o: float, h: float, low: float, c: float, volume: float = 1_000.0, symbol: str = "BTCUSDT"
) -> Candle:
    """Bar ``i`` of a 1-minute series starting at T0."""
    return Candle(symbol, "1m", T0 + timedelta(minutes=i), o, h, low, c, volume)


def flat(i: int, price: float, volume: float = 1_000.0, symbol: str = "BTCUSDT") -> Candle:
    return bar(i, price, price, price, price, volume, symbol)


def intent(cid: str, side: Side, qty: str, symbol: str = "BTCUSDT", **kw: Any) -> OrderIntent:
    asset = kw.pop("asset", Asset.SPOT)
    for key in ("price", "stop_price"):
        if isinstance(kw.get(key), str):
            kw[key] = D(kw[key])
    return OrderIntent(cid, "s1", asset, symbol, side, D(qty), created_at=T0, **kw)


def split(events: Sequence[BrokerEvent]) -> tuple[list[Order], list[Fill]]:
    return [e for e in events if isinstance(e, Order)], [e for e in events if isinstance(e, Fill)]


def read_candles(path: Path, symbol: str, timeframe: str = "1h") -> list[Candle]:
    with path.open(newline="") as handle:
        return [
            Candle(
                symbol,
                timeframe,
                datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")),
                float(row["open"]),
                float(row["high"]),
                float(row["low"]),
                float(row["close"]),
                float(row["volume"] or 0),
            )
            for row in csv.DictReader(handle)
        ]
