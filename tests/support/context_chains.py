"""Chains of pretrade contexts, each made from the one before, for the checks that carry sums over.

order_router checks each request of a batch against a context that extends the one before by an entry;
budget_manager and exposure_manager carry what they worked out from one context to the next when it
``extends`` the earlier one. These strategies make such chains, plus the steps that must not be carried
over (rates replaced, equal positions written otherwise), so the carried results can be compared with a
fresh recomputation at every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal as D

import attrs
from hypothesis import strategies as st

from app.domain.values import Asset, Position
from app.services.order_requests import PretradeContext

__all__ = ["RATES", "chain", "positions_on", "steps_on"]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RATES = [D(1), D("1.00"), D("0.5"), D("1.25")]  # the first two are equal but print differently

Step = tuple[str, object]


def positions_on(symbols: Sequence[str]) -> st.SearchStrategy[Position]:
    return st.builds(
        Position,
        st.sampled_from([Asset.SPOT, Asset.FUTURES]),
        st.sampled_from(symbols),
        st.sampled_from([D("0.5"), D(1), D("-1"), D("2.000"), D("-0.25"), D(0)]),
        st.sampled_from([D(100), D("99.5"), D("1E+2")]),
        st.just(T0),
    )


def steps_on(symbols: Sequence[str]) -> st.SearchStrategy[list[Step]]:
    """How each context is made from the one before: as order_router adds a batch's entry (the same position
    objects plus one, rates copied), the same context again, one symbol's rate replaced (by an equal value
    written differently, or another value), or equal positions written otherwise."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("add"), positions_on(symbols)),
            st.tuples(st.just("same"), st.none()),
            st.tuples(st.just("rerate"), st.tuples(st.sampled_from(symbols), st.sampled_from(RATES))),
            st.tuples(st.just("copy"), st.none()),
        ),
        min_size=1,
        max_size=8,
    )


def chain(start: PretradeContext, rates: dict[str, D], steps: Sequence[Step]) -> list[PretradeContext]:
    """``start`` with ``rates``, then one context per step, each made from the one before."""
    ctx = attrs.evolve(start, position_rates=dict(rates))
    made = [ctx]
    for kind, arg in steps:
        if kind == "add":
            assert isinstance(arg, Position)
            ctx = attrs.evolve(
                ctx, positions=(*ctx.positions, arg), position_rates={arg.symbol: D(1), **ctx.position_rates}
            )
        elif kind == "rerate":
            assert isinstance(arg, tuple)
            symbol, rate = arg
            ctx = attrs.evolve(ctx, position_rates={**ctx.position_rates, symbol: rate})
        elif kind == "copy":
            # equal positions, their amounts written otherwise (100 as 1E+2): equal, yet not the same values
            copies = (
                attrs.evolve(p, qty=p.qty.normalize(), avg_price=p.avg_price.normalize())
                for p in ctx.positions
            )
            ctx = attrs.evolve(ctx, positions=tuple(copies))
        made.append(ctx)
    return made
