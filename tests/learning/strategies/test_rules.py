"""The rule language: precedence, types, errors with their column, crossings, NaN and params."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.learning.features import indicators as ind
from app.learning.strategies import Rule, RuleError, parse_rule

NAN = np.nan


def frame(**series: list[float]) -> dict[str, np.ndarray]:
    return {name: np.asarray(values, dtype=np.float64) for name, values in series.items()}


def fires(rule: str, params: dict[str, float] | None = None, **series: list[float]) -> list[bool]:
    return parse_rule(rule, params).evaluate(frame(**series)).tolist()


# --- precedence and arithmetic ----------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    # or(close > 5, and(close > 1, close < 0)) is true only for the 9; ((...) or ...) and ... would be false.
    assert fires("close > 5 or close > 1 and close < 0", close=[9.0, 2.0]) == [True, False]


def test_not_binds_looser_than_a_comparison() -> None:
    assert fires("not close > 1", close=[0.0, 2.0]) == [True, False]


def test_not_binds_tighter_than_and() -> None:
    assert fires("not close > 1 and close > 0", close=[0.5, 2.0, -1.0]) == [True, False, False]


def test_multiplication_binds_tighter_than_addition() -> None:
    assert fires("close + 1 * 2 == 5", close=[3.0, 4.0]) == [True, False]


def test_parentheses_override_precedence() -> None:
    assert fires("(close + 1) * 2 == 8", close=[3.0, 4.0]) == [True, False]


def test_unary_minus_binds_tighter_than_multiplication() -> None:
    assert fires("-close * 2 == -6", close=[3.0]) == [True]


def test_subtraction_and_division_associate_to_the_left() -> None:
    assert fires("close - 2 - 1 == 1.5 and close / 3 / 2 == 0.75", close=[4.5, 6.0]) == [True, False]


def test_division_by_a_zero_series_value_is_false_not_an_error() -> None:
    assert fires("close / volume > 0", close=[1.0, 1.0], volume=[0.0, 2.0]) == [False, True]


def test_min_max_and_abs_apply_bar_by_bar() -> None:
    assert fires(
        "max(open, close) - min(open, close) == abs(close - open)", open=[1.0, 5.0], close=[3.0, 2.0]
    ) == [
        True,
        True,
    ]


def test_numbers_accept_decimals_and_exponents() -> None:
    assert fires("close > .5e1 and close < 1.2E1", close=[6.0, 4.0]) == [True, False]


# --- crossings ----------------------------------------------------------------------------------------


def test_crosses_above_fires_when_a_goes_from_below_to_above() -> None:
    assert fires("crosses_above(close, open)", close=[1.0, 3.0], open=[2.0, 2.0]) == [False, True]


def test_crosses_above_does_not_fire_from_equal_on_the_previous_bar() -> None:
    assert fires("crosses_above(close, open)", close=[2.0, 3.0], open=[2.0, 2.0]) == [False, False]


def test_crosses_above_does_not_fire_onto_equal_on_this_bar() -> None:
    assert fires("crosses_above(close, open)", close=[1.0, 2.0, 3.0], open=[2.0, 2.0, 2.0]) == [False] * 3


def test_crosses_below_is_strict_on_both_bars() -> None:
    series = {"close": [3.0, 1.0, 2.0, 2.0, 1.0], "open": [2.0, 2.0, 2.0, 2.0, 2.0]}

    assert fires("crosses_below(close, open)", **series) == [False, True, False, False, False]


def test_a_crossing_after_a_nan_bar_does_not_fire() -> None:
    assert fires("crosses_above(close, open)", close=[1.0, NAN, 3.0], open=[2.0, 2.0, 2.0]) == [False] * 3


@given(
    hnp.arrays(np.float64, 30, elements=st.sampled_from([0.0, 1.0, 2.0, NAN])),
    hnp.arrays(np.float64, 30, elements=st.sampled_from([0.0, 1.0, 2.0, NAN])),
)
def test_crosses_above_matches_its_definition_bar_by_bar(a: np.ndarray, b: np.ndarray) -> None:
    expected = [False] + [bool(a[i - 1] < b[i - 1] and a[i] > b[i]) for i in range(1, len(a))]

    assert parse_rule("crosses_above(open, close)").evaluate({"open": a, "close": b}).tolist() == expected


# --- NaN ----------------------------------------------------------------------------------------------


def test_a_comparison_with_nan_is_false() -> None:
    assert fires("close > 1", close=[NAN, 2.0]) == [False, True]


def test_not_equal_with_nan_is_false() -> None:
    assert fires("close != 1", close=[NAN, 2.0]) == [False, True]


def test_not_of_an_unknown_comparison_is_still_false() -> None:
    assert fires("not close > 1", close=[NAN, 0.0]) == [False, True]


def test_or_with_an_unknown_side_is_false() -> None:
    assert fires("close > 1 or volume > 1", close=[5.0, 5.0], volume=[NAN, 0.0]) == [False, True]


def test_nothing_fires_during_the_warmup() -> None:
    close = list(np.linspace(1.0, 2.0, 12))

    result = fires("close > sma(close, 10) - 100", close=close)

    assert result == [False] * 9 + [True] * 3


# --- params and lookback ------------------------------------------------------------------------------


def test_a_param_stands_for_its_number() -> None:
    close = np.linspace(1.0, 5.0, 40)
    with_param = parse_rule("close > sma(close, fast)", {"fast": 10}).evaluate({"close": close})

    np.testing.assert_array_equal(with_param, parse_rule("close > sma(close, 10)").evaluate({"close": close}))


def test_a_param_period_must_be_whole() -> None:
    with pytest.raises(RuleError, match="sma's n must be a whole number") as caught:
        parse_rule("close > sma(close, fast)", {"fast": 2.5})

    assert caught.value.column == 20


def test_constant_arithmetic_on_params_folds_into_a_period() -> None:
    assert parse_rule("close > sma(close, fast * 2)", {"fast": 10}).lookback == 19


@pytest.mark.parametrize(
    ("rule", "lookback"),
    [
        ("close > open", 0),
        ("close > sma(close, 30)", 29),
        ("rsi(close, 14) < 30", 14),
        ("crosses_above(sma(close, 10), sma(close, 30))", 30),
        ("ema(rsi(close, 14), 9) > 50", 22),
        ("macd_hist(close, 12, 26, 9) > 0", 33),
        ("atr(high, low, close, 14) > shift(close, 3)", 14),
        ("close > highest(shift(high, 1), 20)", 20),
        ("close > bb_upper(close, 20, 2) or close < 1", 19),
    ],
)
def test_lookback_is_the_longest_warmup_in_the_rule(rule: str, lookback: int) -> None:
    assert parse_rule(rule).lookback == lookback


@pytest.mark.parametrize(
    "rule",
    [
        "sma(close, 30) > -1e9",
        "rsi(close, 14) < 1e9",
        "macd_hist(close, 12, 26, 9) > -1e9",
        "ema(rsi(close, 14), 9) > -1",
        "atr(close, close, close, 5) > -1",
        "shift(close, 4) > -1",
    ],
)
def test_a_rule_true_whenever_defined_first_fires_at_its_lookback(rule: str) -> None:
    close = 2.0 + np.sin(np.arange(120.0) / 7.0)
    parsed = parse_rule(rule)

    fired = parsed.evaluate({"close": close})

    assert not fired[: parsed.lookback].any()
    assert fired[parsed.lookback :].all()


def test_inputs_name_the_series_a_rule_reads() -> None:
    assert parse_rule("atr(high, low, close, 14) > 1 and volume > 0").inputs == {
        "high",
        "low",
        "close",
        "volume",
    }


def test_rules_sharing_a_cache_compute_the_same_values() -> None:
    close = np.linspace(1.0, 3.0, 50) + np.sin(np.arange(50.0))
    cache: dict[object, np.ndarray] = {}
    entry = parse_rule("crosses_above(sma(close, 3), sma(close, 9))")
    exit_ = parse_rule("crosses_below(sma(close, 3), sma(close, 9))")

    shared = entry.evaluate({"close": close}, cache), exit_.evaluate({"close": close}, cache)

    np.testing.assert_array_equal(shared[0], entry.evaluate({"close": close}))
    np.testing.assert_array_equal(shared[1], exit_.evaluate({"close": close}))
    assert shared[0].any()
    assert shared[1].any()


def test_indicator_calls_evaluate_with_the_indicator_functions() -> None:
    close = np.linspace(1.0, 3.0, 60) + np.sin(np.arange(60.0))
    bands = ind.bbands(close, 20, 2.0)

    fired = parse_rule("close > bb_middle(close, 20, 2)").evaluate({"close": close})

    np.testing.assert_array_equal(fired, np.nan_to_num(close - bands[1], nan=-1.0) > 0)


def test_a_rule_keeps_its_text() -> None:
    rule = parse_rule("close > open")

    assert isinstance(rule, Rule)
    assert str(rule) == "close > open"


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "column", "message"),
    [
        ("smaa(close, 3) > 1", 1, "unknown name 'smaa' at column 1: did you mean 'sma'?"),
        ("close > opn", 9, "unknown name 'opn' at column 9"),
        ("crosses_below(sma(close, 10), sma(close, 30)", 45, "expected ')' at column 45"),
        ("(close > 1", 11, "expected ')' at column 11"),
        ("close > ", 9, "unexpected end of the rule at column 9"),
        ("close > 1 close", 11, "unexpected 'close' at column 11"),
        ("", 1, "empty rule at column 1"),
        ("close > open > high", 14, "comparisons cannot be chained at column 14"),
        ("close = 1", 7, "unexpected character '=' at column 7: compare with '=='"),
        ("close > 1 & open > 1", 11, "unexpected character '&' at column 11"),
        ("sma(close) > 1", 1, "sma takes 2 argument(s), got 1 at column 1: call it as sma(x, n)"),
        ("sma(close, 0) > 1", 12, "sma's n must be a whole number from 1 to 100000 at column 12"),
        ("sma(close, open) > 1", 12, "sma's n must be a whole number"),
        ("bb_upper(close, 20, -2) > 1", 21, "bb_upper's k must be a positive constant at column 21"),
        ("rsi(close > 1, 14) > 1", 5, "rsi's x must be a number, got a true/false expression at column 5"),
        ("close and 3", 1, "'and' needs true/false operands, got a number at column 1"),
        ("close > 1 or 3", 14, "'or' needs true/false operands, got a number at column 14"),
        ("not close", 5, "'not' needs a true/false operand, got a number at column 5"),
        ("(close > 1) + 1 > 0", 2, "'+' needs numbers, got a true/false expression at column 2"),
        ("-(close > 1)", 3, "'-' needs a number, got a true/false expression at column 3"),
        ("sma(close, 3)", 1, "a rule must be true or false, got a number at column 1"),
        ("sma > 1", 1, "sma is a function at column 1: call it as sma(x, n)"),
        ("close(3) > 1", 1, "close is not a function at column 1"),
        ("close > 1 / 0", 13, "division by zero at column 13"),
        ("and > 1", 1, "unexpected 'and' at column 1"),
    ],
)
def test_an_error_names_its_fault_and_column(rule: str, column: int, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(rule)

    assert caught.value.column == column
    assert str(caught.value).startswith(message)


def test_the_unknown_name_error_lists_the_known_names_and_params() -> None:
    with pytest.raises(RuleError, match=r"the series open, high, low, close, volume; .* the params fast"):
        parse_rule("close > fats", {"fast": 3})


def test_calling_a_python_builtin_is_refused() -> None:
    with pytest.raises(RuleError, match='unexpected character "\'" at column 12'):
        parse_rule("__import__('os')")


def test_a_dunder_name_without_strings_is_still_unknown() -> None:
    with pytest.raises(RuleError, match="unknown name '__import__' at column 1"):
        parse_rule("__import__(close) > 1")


def test_attribute_access_is_a_syntax_error() -> None:
    with pytest.raises(
        RuleError, match=r"unexpected character '\.' at column 6: the rule language has no attributes"
    ):
        parse_rule("close.__class__ > 1")


def test_a_param_may_not_hide_a_builtin_name() -> None:
    with pytest.raises(RuleError, match="param 'close' hides a built-in name"):
        parse_rule("close > 1", {"close": 3})


def test_evaluating_without_a_series_the_rule_reads_is_an_error() -> None:
    with pytest.raises(RuleError, match="the data has no 'volume' series at column 9"):
        parse_rule("close > volume").evaluate({"close": np.ones(3)})
