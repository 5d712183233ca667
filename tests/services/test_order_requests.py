"""What strategies ask order_router for: requests resized by the pipeline keep everything else."""

from __future__ import annotations

from decimal import Decimal as D

import attrs

from app.domain.values import Asset, Side, SlTpAnchor
from app.services.order_requests import OrderRequest


def test_a_resized_request_changes_only_its_size_and_stop():
    request = OrderRequest(
        "s1", Asset.FUTURES, "BTCUSDT", Side.SELL, D(3), D(100), D(104), D(90), reduce_only=True, reason="why",
        anchor=SlTpAnchor(D(100), stop_loss_relative=True),
    )  # fmt: skip

    sized = request.sized(D("1.5"), D(103))

    assert sized == attrs.evolve(request, qty=D("1.5"), stop_loss=D(103))
    # the comparison covered a request with no field left at its default
    assert all(getattr(request, f.name) != f.default for f in attrs.fields(OrderRequest))
