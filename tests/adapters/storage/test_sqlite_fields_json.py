"""The journal's JSON encoder, built once, writes what json.dumps with the same settings writes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.adapters.storage.sqlite import rows
from app.adapters.storage.sqlite.rows import Refused
from app.domain.values import OrderStatus, Side

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.decimals(allow_nan=False),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.sampled_from([*Side, *OrderStatus]),
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)


def _reference(fields: object) -> str:
    return json.dumps(fields, default=rows._json_default, separators=(",", ":"))


@given(st.dictionaries(st.text(), _VALUES, max_size=8))
def test_fields_json_is_json_dumps_with_the_same_settings(fields: dict[str, object]) -> None:
    text = rows.fields_json(fields)

    assert text == _reference(fields)
    assert json.loads(text) == json.loads(_reference(fields))


def test_values_json_cannot_hold_are_refused_by_name() -> None:
    with pytest.raises(Refused, match="type object"):
        rows.fields_json({"x": object()})


def test_typical_entry_reads_back_as_strings() -> None:
    fields = {
        "client_order_id": "sma-00000001",
        "qty": Decimal("0.010"),
        "side": Side.BUY,
        "at": datetime(2024, 1, 1, tzinfo=UTC),
        "day": date(2024, 1, 2),
    }

    assert rows.fields_from(rows.fields_json(fields)) == {
        "client_order_id": "sma-00000001",
        "qty": "0.010",
        "side": "buy",
        "at": "2024-01-01T00:00:00.000000+00:00",
        "day": "2024-01-02",
    }
