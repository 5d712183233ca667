"""Strategy specs: the example files load, and every problem of a bad spec is named by path and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from app.domain.errors import ValidationFailed
from app.domain.values import Asset
from app.learning.strategies import StopRule, StrategySpec, load_spec, parse_spec
from tests.learning.conftest import SPECS


def minimal(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "demo",
        "asset": "spot",
        "symbol": "ETHBTC",
        "timeframe": "5m",
        "signal": {"kind": "rules", "long_entry": "close > open"},
    }
    spec.update(changes)
    return spec


def problems_of(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        parse_spec(data, "test.yaml")
    return caught.value.problems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the example specs -----------------------------------------------------------------------------


def test_the_sma_cross_spec_loads_as_written() -> None:
    spec = load_spec(SPECS / "sma_cross.yaml")

    assert (spec.id, spec.asset, spec.symbol, spec.timeframe) == (
        "sma-cross-demo",
        Asset.SPOT,
        "ETHBTC",
        "5m",
    )
    assert spec.signal.long_entry == "crosses_above(sma(close, 10), sma(close, 30))"
    assert spec.signal.long_exit == "crosses_below(sma(close, 10), sma(close, 30))"
    assert (spec.sizing.mode, spec.sizing.fraction) == ("fraction", 1.0)
    assert (spec.costs.fee_rate, spec.costs.slippage_bps, spec.execution.fill) == (0.001, 0.0, "next_open")
    assert spec.stop_loss is None


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_example_spec_validates(path: Path) -> None:
    spec = load_spec(path)

    assert spec.rules()


def test_the_rsi_example_sizes_by_risk_against_an_atr_stop() -> None:
    spec = load_spec(SPECS / "rsi_reversion.yaml")

    assert spec.sizing.mode == "risk"
    assert spec.stop_loss == StopRule(atr=2.0, atr_period=14)


def test_the_trend_example_trades_both_ways_with_a_trailing_stop() -> None:
    spec = load_spec(SPECS / "ema_trend_short.yaml")

    assert set(spec.rules()) == {"long_entry", "long_exit", "short_entry", "short_exit"}
    assert spec.trailing_stop is not None
    assert spec.trailing_stop.atr == 2.0


def test_defaults_fill_what_a_spec_leaves_out() -> None:
    spec = parse_spec(minimal())

    assert spec.costs.fee_rate == 0.001
    assert spec.execution.fill == "next_open"
    assert spec.execution.latency_bars == 0
    assert spec.sizing.fraction == 1.0
    assert spec.params == {}


def test_a_timeframe_is_normalised() -> None:
    assert parse_spec(minimal(timeframe="60m")).timeframe == "1h"


def test_a_spec_is_frozen() -> None:
    spec = parse_spec(minimal())

    with pytest.raises(pydantic.ValidationError):
        spec.symbol = "BTCUSD"  # type: ignore[misc]


# --- problems -------------------------------------------------------------------------------------------


def test_an_unknown_key_is_refused_with_a_suggestion() -> None:
    problems = problems_of(minimal(stop_los={"pct": 0.02}))

    assert problems == [
        (
            "stop_los",
            "unknown key: did you mean 'stop_loss'? allowed keys are id, asset, symbol, timeframe, "
            "description, params, signal, sizing, stop_loss, take_profit, trailing_stop, costs, execution",
        )
    ]


def test_an_unknown_nested_key_is_named_by_its_dotted_path() -> None:
    problems = problems_of(minimal(costs={"fees_rate": 0.001}))

    assert problems[0][0] == "costs.fees_rate"
    assert "did you mean 'fee_rate'?" in problems[0][1]


def test_a_rule_syntax_error_names_the_rule_and_column() -> None:
    signal = {
        "kind": "rules",
        "long_entry": "close > open",
        "long_exit": "crosses_below(sma(close, 10), open",
    }

    assert problems_of(minimal(signal=signal)) == [
        ("signal.long_exit", "expected ')' at column 35: found end of the rule")
    ]


def test_an_unknown_name_in_a_rule_lists_the_known_names() -> None:
    problems = problems_of(minimal(signal={"kind": "rules", "long_entry": "smaa(close, 3) > 1"}))

    where, reason = problems[0]
    assert where == "signal.long_entry"
    assert reason.startswith("unknown name 'smaa' at column 1: did you mean 'sma'? known names are")


def test_rules_may_use_the_spec_params() -> None:
    spec = parse_spec(
        minimal(params={"fast": 5}, signal={"kind": "rules", "long_entry": "close > sma(close, fast)"})
    )

    assert spec.rules()["long_entry"].lookback == 4


def test_every_problem_is_reported_at_once() -> None:
    data = minimal(
        id="bad id",
        asset="stocks",
        timeframe="5x",
        signal={"kind": "rules", "long_entry": "close >"},
        costs={"fee_rate": -1},
    )

    assert [where for where, _ in problems_of(data)] == [
        "id",
        "asset",
        "timeframe",
        "signal.long_entry",
        "costs.fee_rate",
    ]


@pytest.mark.parametrize("kind", ["ml", "rl"])
def test_ml_and_rl_specs_are_refused_as_not_supported_yet(kind: str) -> None:
    problems = problems_of(minimal(signal={"kind": kind}))

    assert problems == [
        ("signal.kind", f"kind {kind!r} is not supported yet: only 'rules' specs can be evaluated for now")
    ]


def test_a_spec_without_an_entry_rule_is_refused() -> None:
    problems = problems_of(minimal(signal={"kind": "rules", "long_exit": "close > open"}))

    assert problems == [("signal", "needs at least one entry rule: long_entry or short_entry")]


def test_an_exit_without_its_entry_is_refused() -> None:
    signal = {"kind": "rules", "long_entry": "close > open", "short_exit": "close < open"}

    assert problems_of(minimal(signal=signal)) == [("signal", "short_exit has no short_entry to exit from")]


def test_risk_sizing_needs_a_risk_fraction() -> None:
    problems = problems_of(minimal(sizing={"mode": "risk"}, stop_loss={"pct": 0.02}))

    assert problems == [
        ("sizing", "mode 'risk' needs risk_fraction: the share of equity lost if the stop is hit")
    ]


def test_risk_sizing_needs_a_stop_loss() -> None:
    problems = problems_of(minimal(sizing={"mode": "risk", "risk_fraction": 0.01}))

    assert problems == [("stop_loss", "sizing mode 'risk' needs a stop_loss to measure the risk against")]


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        ({"pct": 0.02, "atr": 1.5}, "give exactly one of pct"),
        ({}, "give exactly one of pct"),
        ({"pct": 0.02, "atr_period": 20}, "atr_period goes with atr, not with pct"),
        ({"pct": 2}, "would put a long's stop at or below zero: pct is a fraction (0.02 = 2%)"),
        ({"pct": -1}, "greater than 0"),
    ],
)
def test_a_malformed_stop_loss_is_refused(stop: dict[str, float], reason: str) -> None:
    problems = problems_of(minimal(stop_loss=stop))

    assert problems[0][0] == "stop_loss" or problems[0][0].startswith("stop_loss.")
    assert reason in problems[0][1]


def test_a_param_must_be_a_number() -> None:
    assert problems_of(minimal(params={"fast": "ten"})) == [
        ("params.fast", "a param must be a number, got 'ten'")
    ]


def test_a_param_may_not_take_a_name_of_the_rule_language() -> None:
    assert problems_of(minimal(params={"sma": 3})) == [
        ("params.sma", "param name 'sma' is a name of the rule language")
    ]


def test_a_non_mapping_spec_is_refused() -> None:
    assert problems_of(["id", "demo"]) == [("", "a spec is a mapping of keys, got list")]


def test_a_direct_model_validation_still_checks_the_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"signal\.long_entry: unknown name 'opn' at column 9"):
        StrategySpec.model_validate(minimal(signal={"kind": "rules", "long_entry": "close > opn"}))


# --- files ----------------------------------------------------------------------------------------------


def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "id: demo\nsignal: [a\n  b: c\n")

    with pytest.raises(ValidationFailed) as caught:
        load_spec(path)

    assert caught.value.source == str(path)
    assert caught.value.problems == [
        ("", "YAML syntax error at line 3, column 4: expected ',' or ']', but got ':'")
    ]


def test_a_duplicated_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "id: a\nsymbol: X\nid: b\n")

    with pytest.raises(ValidationFailed, match="YAML syntax error at line 3, column 1: duplicate key 'id'"):
        load_spec(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="the file is empty"):
        load_spec(write(tmp_path, "# nothing\n"))


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(
        ValidationFailed, match=r"missing\.yaml: cannot read the spec: No such file or directory"
    ):
        load_spec(tmp_path / "missing.yaml")


def test_the_message_names_the_file_and_each_place(tmp_path: Path) -> None:
    path = write(
        tmp_path, (SPECS / "sma_cross.yaml").read_text().replace("sma(close, 10)", "sma(close, 1O)", 1)
    )

    with pytest.raises(ValidationFailed) as caught:
        load_spec(path)

    assert str(caught.value) == f"{path}: signal.long_entry: expected ')' at column 27: found 'O'"


# --- helpers on a valid spec ------------------------------------------------------------------------------


def test_with_params_returns_a_revalidated_copy() -> None:
    spec = parse_spec(
        minimal(params={"fast": 5}, signal={"kind": "rules", "long_entry": "close > sma(close, fast)"})
    )

    shocked = spec.with_params(fast=8)

    assert shocked.params == {"fast": 8}
    assert shocked.rules()["long_entry"].lookback == 7
    assert spec.params == {"fast": 5}


def test_with_params_refuses_a_value_the_rules_cannot_use() -> None:
    spec = parse_spec(
        minimal(params={"fast": 5}, signal={"kind": "rules", "long_entry": "close > sma(close, fast)"})
    )

    with pytest.raises(ValidationFailed, match="sma's n must be a whole number"):
        spec.with_params(fast=5.5)


def test_with_params_refuses_an_unknown_param() -> None:
    with pytest.raises(ValidationFailed, match=r"params\.slow: not a param of this spec"):
        parse_spec(minimal()).with_params(slow=3)


def test_a_pct_stop_lies_that_fraction_of_the_price_away() -> None:
    assert StopRule(pct=0.02).distance(250.0) == pytest.approx(5.0)


def test_an_atr_stop_lies_its_multiple_of_the_atr_away() -> None:
    assert StopRule(atr=1.5).distance(250.0, atr_value=4.0) == pytest.approx(6.0)


def test_with_params_keeps_a_percent_stop_valid():
    from app.learning.strategies.spec import parse_spec

    spec = parse_spec(
        {
            "id": "p",
            "asset": "spot",
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "params": {"fast": 10},
            "signal": {"kind": "rules", "long_entry": "close > sma(close, fast)"},
            "stop_loss": {"pct": 0.02},
        }
    )

    shocked = spec.with_params(fast=12)

    assert shocked.params["fast"] == 12
    assert shocked.stop_loss is not None
    assert shocked.stop_loss.pct == 0.02
