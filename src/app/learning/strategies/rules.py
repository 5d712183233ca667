"""The rule language of strategy specs: a tokenizer and a recursive-descent parser to a typed AST, no eval.

Grammar (loosest binding first)::

    rule       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := additive (("<" | "<=" | ">" | ">=" | "==" | "!=") additive)?
    additive   := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := number | name | name "(" [rule ("," rule)*] ")" | "(" rule ")"

Names are the bar series (open, high, low, close, volume), the spec's params (numbers) and the functions of
``FUNCTIONS``. Types are checked while parsing: a rule is true/false at its top, arithmetic takes numbers,
and periods are whole-number constants. Evaluation is vectorised: booleans travel as float arrays holding
1.0, 0.0, or NaN for "unknown" (a NaN input, e.g. during warm-up), which ``not`` keeps unknown and
``and``/``or`` spread, so a bar whose rule needs any missing value is False.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from app.domain.errors import AppError
from app.learning.features import indicators as ind

__all__ = ["FUNCTIONS", "KEYWORDS", "SERIES", "Rule", "RuleError", "parse_rule"]

FloatArray = npt.NDArray[np.float64]

SERIES = ("open", "high", "low", "close", "volume")
KEYWORDS = ("and", "or", "not")


class RuleError(AppError):
    """A rule string does not parse or type-check; ``column`` is the 1-based position of the fault."""

    def __init__(self, reason: str, column: int, hint: str = "") -> None:
        self.reason = reason
        self.column = column
        msg = f"{reason} at column {column}" + (f": {hint}" if hint else "")
        super().__init__(msg)


@dataclass(frozen=True, slots=True)
class _Function:
    """``args`` name each argument; ``periods``/``constants`` say which must be whole / plain numbers."""

    args: tuple[str, ...]
    compute: Callable[..., FloatArray]
    warmup: Callable[..., int]
    periods: frozenset[str] = frozenset({"n"})
    constants: frozenset[str] = frozenset()
    boolean: bool = False


def _crossing(a: FloatArray, b: FloatArray, above: bool) -> FloatArray:
    now = a > b if above else a < b
    before = a < b if above else a > b
    out = np.zeros(len(a))
    out[1:] = now[1:] & before[:-1]
    unknown = np.isnan(a) | np.isnan(b)
    unknown[1:] |= unknown[:-1].copy()
    unknown[:1] = True
    out[unknown] = np.nan
    return out


def _band(part: int) -> _Function:
    def compute(x: FloatArray, n: int, k: float) -> FloatArray:
        return ind.bbands(x, n, k)[part]

    return _Function(("x", "n", "k"), compute, lambda n, k: n - 1, constants=frozenset({"k"}))


def _macd(part: int) -> _Function:
    def compute(x: FloatArray, fast: int, slow: int, signal: int) -> FloatArray:
        return ind.macd(x, fast, slow, signal)[part]

    def warmup(fast: float, slow: float, signal: float) -> int:
        return int(max(fast, slow) + signal - 2)

    return _Function(("x", "fast", "slow", "signal"), compute, warmup, frozenset({"fast", "slow", "signal"}))


def _elementwise(
    args: tuple[str, ...], compute: Callable[..., FloatArray], *, cross: bool = False
) -> _Function:
    return _Function(args, compute, lambda: int(cross), periods=frozenset(), boolean=cross)


FUNCTIONS: Mapping[str, _Function] = {
    "sma": _Function(("x", "n"), ind.sma, lambda n: n - 1),
    "ema": _Function(("x", "n"), ind.ema, lambda n: n - 1),
    "rsi": _Function(("x", "n"), ind.rsi, lambda n: n),
    "atr": _Function(("high", "low", "close", "n"), ind.atr, lambda n: n),
    "mfi": _Function(("high", "low", "close", "volume", "n"), ind.mfi, lambda n: n),
    "bb_upper": _band(0),
    "bb_middle": _band(1),
    "bb_lower": _band(2),
    "macd": _macd(0),
    "macd_signal": _macd(1),
    "macd_hist": _macd(2),
    "highest": _Function(("x", "n"), ind.highest, lambda n: n - 1),
    "lowest": _Function(("x", "n"), ind.lowest, lambda n: n - 1),
    "shift": _Function(("x", "n"), ind.shift, lambda n: n),
    "abs": _elementwise(("x",), np.abs),
    "min": _elementwise(("a", "b"), np.minimum),
    "max": _elementwise(("a", "b"), np.maximum),
    "crosses_above": _elementwise(("a", "b"), lambda a, b: _crossing(a, b, True), cross=True),
    "crosses_below": _elementwise(("a", "b"), lambda a, b: _crossing(a, b, False), cross=True),
}

# --- AST ------------------------------------------------------------------------------------------

_NUMBER, _SERIES = "#number", "#series"


@dataclass(frozen=True, slots=True)
class _Node:
    """A leaf (``op`` is ``_NUMBER`` or ``_SERIES``), or a function or operator ``op`` over ``children``.

    ``boolean`` is its type, ``lookback`` the bars before its first value, ``constants`` a call's periods.
    """

    op: str
    column: int = field(compare=False)  # equal subexpressions at different places share a cache entry
    boolean: bool = False
    lookback: int = 0
    children: tuple[_Node, ...] = ()
    constants: tuple[float, ...] = ()
    value: float = 0.0
    name: str = ""

    def evaluate(
        self, frame: Mapping[str, FloatArray], size: int, cache: dict[_Node, FloatArray]
    ) -> FloatArray:
        if self.op == _NUMBER:
            return np.full(size, self.value)
        if self.op == _SERIES:
            return frame[self.name]
        found = cache.get(self)
        if found is not None:
            return found
        args = [child.evaluate(frame, size, cache) for child in self.children]
        if self.op in FUNCTIONS:
            periods = [int(c) if c.is_integer() else c for c in self.constants]
            result = FUNCTIONS[self.op].compute(*args, *periods)
        else:
            result = _OPERATIONS[self.op](*args)
        cache[self] = result
        return result

    def series(self, found: dict[str, int]) -> dict[str, int]:
        """Each series name the node reads, with the column of its first use."""
        if self.op == _SERIES:
            found.setdefault(self.name, self.column)
        for child in self.children:
            child.series(found)
        return found


def _number(value: float, column: int) -> _Node:
    return _Node(_NUMBER, column, value=value)


def _compare(test: Callable[[FloatArray, FloatArray], npt.NDArray[np.bool_]]) -> Callable[..., FloatArray]:
    def apply(a: FloatArray, b: FloatArray) -> FloatArray:
        return np.where(np.isnan(a) | np.isnan(b), np.nan, test(a, b).astype(np.float64))

    return apply


def _divide(a: FloatArray, b: FloatArray) -> FloatArray:
    quotient: FloatArray = np.divide(a, b, out=np.full(len(a), np.nan), where=b != 0)
    return quotient


_OPERATIONS: Mapping[str, Callable[..., FloatArray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": _divide,
    "neg": np.negative,
    "<": _compare(np.less),
    "<=": _compare(np.less_equal),
    ">": _compare(np.greater),
    ">=": _compare(np.greater_equal),
    "==": _compare(np.equal),
    "!=": _compare(np.not_equal),
    "and": np.minimum,  # NaN-propagating: unknown and anything is unknown
    "or": np.maximum,
    "not": lambda x: 1.0 - x,
}

# --- tokens ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op><=|>=|==|!=|[-+*/<>(),])|(?P<end>$))",
    re.ASCII,
)
_CHARACTER_HINTS = {
    "=": "compare with '=='",
    "!": "negate with 'not'",
    "&": "combine with 'and'",
    "|": "combine with 'or'",
    ".": "the rule language has no attributes",
    "'": "the rule language has no strings",
    '"': "the rule language has no strings",
}
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_VALUE_HINT = "expected a number, a name or '('"
_MAX_PERIOD = 100_000


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, name, op or end
    text: str
    column: int

    def describe(self) -> str:
        return "end of the rule" if self.kind == "end" else repr(self.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while not tokens or tokens[-1].kind != "end":
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            pos += len(text[pos:]) - len(text[pos:].lstrip())
            char = text[pos]
            raise RuleError(f"unexpected character {char!r}", pos + 1, _CHARACTER_HINTS.get(char, ""))
        tokens.append(_Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup) + 1))
        pos = match.end()
    return tokens


# --- parser ---------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, params: Mapping[str, float]) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.params = params

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in ("op", "name") and token.text in texts

    def rule(self) -> _Node:
        if self.peek().kind == "end":
            raise RuleError("empty rule", 1, "write a condition such as close > sma(close, 20)")
        node = self.disjunction()
        if self.peek().kind != "end":
            token = self.peek()
            raise RuleError(f"unexpected {token.describe()}", token.column, "expected an operator or the end")
        if not node.boolean:
            hint = "use a comparison, crosses_above/crosses_below, and/or/not"
            raise RuleError("a rule must be true or false, got a number", 1, hint)
        return node

    def disjunction(self) -> _Node:
        node = self.conjunction()
        while self.at("or"):
            self.take()
            node = _logical("or", node, self.conjunction())
        return node

    def conjunction(self) -> _Node:
        node = self.negation()
        while self.at("and"):
            self.take()
            node = _logical("and", node, self.negation())
        return node

    def negation(self) -> _Node:
        if not self.at("not"):
            return self.comparison()
        token = self.take()
        operand = self.negation()
        if not operand.boolean:
            raise RuleError("'not' needs a true/false operand, got a number", operand.column)
        return _Node("not", token.column, True, operand.lookback, (operand,))

    def comparison(self) -> _Node:
        node = self.additive()
        if self.at(*_COMPARISONS):
            op = self.take().text
            node = _arithmetic(op, node, self.additive(), boolean=True)
            if self.at(*_COMPARISONS):
                raise RuleError("comparisons cannot be chained", self.peek().column, "join them with 'and'")
        return node

    def additive(self) -> _Node:
        node = self.product()
        while self.at("+", "-"):
            node = _arithmetic(self.take().text, node, self.product())
        return node

    def product(self) -> _Node:
        node = self.unary()
        while self.at("*", "/"):
            op = self.take()
            right = self.unary()
            if op.text == "/" and right.op == _NUMBER and right.value == 0:
                raise RuleError("division by zero", right.column)
            node = _arithmetic(op.text, node, right)
        return node

    def unary(self) -> _Node:
        if not self.at("-"):
            return self.primary()
        token = self.take()
        operand = self.unary()
        if operand.boolean:
            raise RuleError("'-' needs a number, got a true/false expression", operand.column)
        if operand.op == _NUMBER:
            return _number(-operand.value, token.column)
        return _Node("neg", token.column, False, operand.lookback, (operand,))

    def primary(self) -> _Node:
        token = self.take()
        if token.kind == "number":
            return _number(float(token.text), token.column)
        if token.kind == "op" and token.text == "(":
            node = self.disjunction()
            self.expect(")")
            return node
        if token.kind != "name" or token.text in KEYWORDS:
            raise RuleError(f"unexpected {token.describe()}", token.column, _VALUE_HINT)
        if self.at("("):
            return self.call(token)
        if token.text in SERIES:
            return _Node(_SERIES, token.column, name=token.text)
        if token.text in self.params:
            return _number(float(self.params[token.text]), token.column)
        if token.text in FUNCTIONS:
            usage = f"{token.text}({', '.join(FUNCTIONS[token.text].args)})"
            raise RuleError(f"{token.text} is a function", token.column, f"call it as {usage}")
        raise self.unknown(token)

    def expect(self, text: str) -> _Token:
        if not self.at(text):
            token = self.peek()
            raise RuleError(f"expected {text!r}", token.column, f"found {token.describe()}")
        return self.take()

    def unknown(self, token: _Token) -> RuleError:
        close = difflib.get_close_matches(token.text, [*SERIES, *FUNCTIONS, *self.params], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        hint += f"known names are the series {', '.join(SERIES)}; the functions {', '.join(FUNCTIONS)}"
        hint += f"; the params {', '.join(self.params)}" if self.params else " (the spec has no params)"
        return RuleError(f"unknown name {token.text!r}", token.column, hint)

    def call(self, name: _Token) -> _Node:
        self.take()
        function = FUNCTIONS.get(name.text)
        if function is None:
            if name.text in SERIES or name.text in self.params:
                raise RuleError(f"{name.text} is not a function", name.column)
            raise self.unknown(name)
        args: list[_Node] = []
        if not self.at(")"):
            args.append(self.disjunction())
            while self.at(","):
                self.take()
                args.append(self.disjunction())
        self.expect(")")
        return _make_call(name, function, args)


def _make_call(name: _Token, function: _Function, args: list[_Node]) -> _Node:
    if len(args) != len(function.args):
        signature = f"{name.text}({', '.join(function.args)})"
        msg = f"{name.text} takes {len(function.args)} argument(s), got {len(args)}"
        raise RuleError(msg, name.column, f"call it as {signature}")
    inputs: list[_Node] = []
    constants: list[float] = []
    for arg, node in zip(function.args, args, strict=True):
        if arg in function.periods:
            if not (node.op == _NUMBER and node.value.is_integer() and 1 <= node.value <= _MAX_PERIOD):
                msg = f"{name.text}'s {arg} must be a whole number from 1 to {_MAX_PERIOD}"
                raise RuleError(msg, node.column, "write a literal or a param")
            constants.append(node.value)
        elif arg in function.constants:
            if not (node.op == _NUMBER and node.value > 0):
                raise RuleError(f"{name.text}'s {arg} must be a positive constant", node.column)
            constants.append(node.value)
        elif node.boolean:
            raise RuleError(f"{name.text}'s {arg} must be a number, got a true/false expression", node.column)
        else:
            inputs.append(node)
    lookback = max((node.lookback for node in inputs), default=0) + int(function.warmup(*constants))
    return _Node(name.text, name.column, function.boolean, lookback, tuple(inputs), tuple(constants))


def _logical(op: str, left: _Node, right: _Node) -> _Node:
    for node in (left, right):
        if not node.boolean:
            raise RuleError(f"'{op}' needs true/false operands, got a number", node.column)
    return _Node(op, left.column, True, max(left.lookback, right.lookback), (left, right))


def _arithmetic(op: str, left: _Node, right: _Node, *, boolean: bool = False) -> _Node:
    for node in (left, right):
        if node.boolean:
            raise RuleError(f"'{op}' needs numbers, got a true/false expression", node.column)
    if left.op == _NUMBER and right.op == _NUMBER and not boolean:
        folded = _OPERATIONS[op](np.array([left.value]), np.array([right.value]))
        return _number(float(folded[0]), left.column)
    return _Node(op, left.column, boolean, max(left.lookback, right.lookback), (left, right))


# --- public ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed, type-checked rule. ``lookback`` is the number of bars before its first possible True."""

    text: str
    root: _Node

    @property
    def lookback(self) -> int:
        return self.root.lookback

    @property
    def inputs(self) -> frozenset[str]:
        """The bar series the rule reads (a subset of ``SERIES``)."""
        return frozenset(self.root.series({}))

    def evaluate(
        self, frame: Mapping[str, npt.ArrayLike], cache: dict[Any, FloatArray] | None = None
    ) -> npt.NDArray[np.bool_]:
        """The rule on every bar of ``frame`` (series name -> array); False where a needed value is NaN.

        Rules evaluated on the same frame may share a ``cache`` (an empty dict at first) so that a
        subexpression they have in common, such as ``sma(close, 30)``, is computed once.
        """
        columns = self.root.series({})
        arrays: dict[str, FloatArray] = {}
        for name, column in columns.items():
            if name not in frame:
                raise RuleError(f"the data has no {name!r} series", column)
            arrays[name] = np.asarray(frame[name], dtype=np.float64)
        sizes = {len(array) for array in arrays.values()} or {len(np.asarray(v)) for v in frame.values()}
        if len(sizes) > 1:
            msg = f"the series of one frame must have one length, got lengths {sorted(sizes)}"
            raise AppError(msg)
        with np.errstate(all="ignore"):
            values = self.root.evaluate(arrays, sizes.pop() if sizes else 0, {} if cache is None else cache)
        result: npt.NDArray[np.bool_] = values == 1.0
        return result

    def __str__(self) -> str:
        return self.text


def parse_rule(text: str, params: Mapping[str, float] | None = None) -> Rule:
    """Parse and type-check ``text``; ``params`` are named numbers the rule may use (e.g. periods).

    Raises:
        RuleError: with the 1-based ``column`` of the first fault.
    """
    values = dict(params or {})
    for name in values:
        if name in SERIES or name in FUNCTIONS or name in KEYWORDS:
            raise RuleError(f"param {name!r} hides a built-in name", 1, "rename the param")
    return Rule(text, _Parser(text, values).rule())
