"""The language risk rules are written in: a small, safe subset of Python expressions.

A rule is text an operator writes (stored in the database, edited through the API and the
CLI), for example::

    card.count_10m >= max_per_card_10m and amount > 0
    hour in (0, 1, 2, 3, 4, 5) and not merchant.night_trader
    amount >= near_limit_share * limit_per_txn

It is parsed by Python's own parser (``ast.parse(source, mode="eval")``) and the tree is
walked against a whitelist; no part of the text ever reaches ``eval``, ``exec`` or
``compile`` (``rule_set`` builds a function from the checked rules' shapes, not from
their text).
Allowed: int literals, decimal literals (``0.8`` is ``Decimal("0.8")``, read from the
source text: money is never a float), string literals, ``True``/``False``, tuples and
lists of constants (the right side of ``in``/``not in``), names and dotted names
(``card.count_10m``), ``not`` and unary ``-``, ``and``/``or`` (short-circuit, returning an
operand as Python does), comparisons (chained too: ``1 <= hour < 6``), ``+ - * / // %``
and calls of ``min``, ``max`` and ``abs``. Everything else is refused with an
``ExprError`` naming the problem and the column, and so are, before any sale: a name
neither a feature nor a parameter (or both), a text against a number where both types
are known (literals, parameters, arithmetic), arithmetic on a text, a rule that is not a
condition (``amount + 1``), an exponent (``1e9``), a backslash, and a rule over the
limits (1,000 characters, 200 nodes, 32 levels of nesting: a pathological rule is
refused in milliseconds, never by a blown stack).

A name is a feature (computed by the risk engine for each sale: ``card.count_10m``) or a
parameter (a constant of a merchant kind: ``max_per_card_10m``). A rule is compiled once
per merchant kind, with that kind's parameters folded in, then run on every sale, so the
compiled form is a tree of small closures specialised for the common shapes
(``name <op> constant`` above all) and every part without a feature is computed once, at
compile time. The engine runs all the rules of a merchant kind as one function
(``rule_set``): the common shapes written out as Python's own comparisons, the rest
calling their closures.

Values: an int, a Decimal, a bool or a text, with Python's own arithmetic and
comparisons, except where Python would raise. ``/`` gives a Decimal (28 digits). A
value that cannot be computed -- a division by zero, arithmetic on a text, a min of a
number and a text -- is ``UNDEFINED``: arithmetic with it gives it again, every
comparison with it is false (``!=`` and ``not in`` too), and it is not true, so
``amount / n > 1`` is false when ``n`` is 0 and ``not (amount / n > 1)`` is true. A
comparison Python would refuse (a text with a number, at run time: features are not
typed when a rule is compiled) is false too. A rule never raises because of the values
of a sale (ints, finite Decimals, bools, texts: a NaN is no feature's value); a feature
missing from the mapping is the engine's bug and raises KeyError.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from enum import StrEnum
from functools import partial
from types import MappingProxyType
from typing import Any, Final

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_

CODE = "risk.expression"
MAX_SOURCE_CHARS = 1_000
MAX_NODES = 200  # expression nodes (names, constants, operations) in one rule
MAX_DEPTH = 32  # nesting of expressions; the walk is recursive, so this bounds the stack
FUNCTIONS = frozenset({"min", "max", "abs"})
_EXCERPT_CHARS = 40
_TAIL_CHARS = 20  # of an error at the rule's end: the last words, this long at most

Scalar = int | Decimal | bool | str
# A compiled part's shape, as ``rule_set`` writes it out (see there): ("read", name),
# ("compare", fn, name, symbol, constant, kind), ("range", fn, name, low, symbol, high,
# symbol), ("not", tree), ("and" | "or", trees), ("const", value), ("call", fn).
_Tree = tuple[Any, ...]
Param = Scalar | tuple[Scalar, ...] | list[Scalar] | frozenset[Scalar]
Features = Mapping[str, Scalar]
_Fn = Callable[[Features], Any]
_NO_PARAMS: Mapping[str, Param] = MappingProxyType({})

# ``/`` divides in a context of its own: the result must not depend on whatever decimal
# context the thread that runs the rule happens to have.
_DIVISION = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
# A decimal literal as Python writes it, without an exponent: ``1e999999`` would be a
# number no rule means and an overflow waiting for its first multiplication.
_DECIMAL_LITERAL = re.compile(r"\d(?:_?\d)*\.(?:\d(?:_?\d)*)?|\.\d(?:_?\d)*")


class Problem(StrEnum):
    """What is wrong with a rule (shown to operators, translated)."""

    SYNTAX = N_("syntax error")
    UNKNOWN_NAME = N_("unknown name")
    AMBIGUOUS_NAME = N_("name of both a feature and a parameter")
    NOT_ALLOWED = N_("not allowed here")
    WRONG_TYPE = N_("wrong type")
    ARGUMENTS = N_("wrong number of arguments")
    NOT_A_CONDITION = N_("not a yes-or-no condition")
    # The limits, as numbers, are in the messages (tests/unit/risk/test_expr.py keeps
    # them in step with MAX_SOURCE_CHARS, MAX_NODES and MAX_DEPTH).
    TOO_LONG = N_("too long (at most 1000 characters)")
    TOO_BIG = N_("too many parts (at most 200)")
    TOO_DEEP = N_("nested too deep (at most 32 levels)")


AT_COLUMN = N_("Rule expression: {problem} at column {column}: {text}")
AT_LINE = N_("Rule expression: {problem} at line {line}, column {column}: {text}")


class ExprError(InvalidInput):
    """A rule that cannot be compiled: what is wrong (``problem``), where (``offset``,
    0-based, into the source with line ends made ``\\n``; ``line`` and ``column``, 1-based)
    and an excerpt of the source there (``text``)."""

    def __init__(self, problem: Problem, source: str, offset: int, text: str) -> None:
        offset = max(0, min(offset, len(source)))
        line = source.count("\n", 0, offset) + 1
        column = offset - source.rfind("\n", 0, offset)
        template = AT_LINE if line > 1 or "\n" in source.strip() else AT_COLUMN
        shown = _excerpt(text)
        super().__init__(CODE, template, problem=problem, line=line, column=column, text=shown)
        self.problem = problem
        self.offset = offset
        self.line = line
        self.column = column
        self.text = shown


def _tail(before: str) -> str:
    """What ends the rule, in whole words (an error at its very end: what came last)."""
    words = before.split()
    kept: list[str] = []
    while words and len(" ".join([words[-1], *kept])) <= _TAIL_CHARS:
        kept.insert(0, words.pop())
    if not kept:
        return before.strip()[-_TAIL_CHARS:]
    return ("…" if words else "") + " ".join(kept)


def _excerpt(text: str) -> str:
    # One line, printable: the message reaches logs, terminals and JSON documents.
    one_line = "".join(c if c.isprintable() else "\ufffd" for c in " ".join(text.split()))
    if len(one_line) <= _EXCERPT_CHARS:
        return one_line or "…"  # nothing there: the end of the rule
    return one_line[: _EXCERPT_CHARS - 1] + "…"


# --- values -------------------------------------------------------------------------


class _Undefined:
    """The value of what cannot be computed (see the module's docstring)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __hash__(self) -> int:
        return 0x5AFE

    # Comparisons are false whichever side it is on: Python tries the reflected method of
    # the right operand when the left one's returns NotImplemented, as int's, Decimal's
    # and str's do for an operand they do not know.
    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return False

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return False

    def __ge__(self, other: object) -> bool:
        return False

    def _same(self, *_other: object) -> _Undefined:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __neg__ = __abs__ = _same


UNDEFINED: Final = _Undefined()
_FAILS = (TypeError, ArithmeticError)  # what Python raises where a rule gives UNDEFINED


# --- the compiled rule --------------------------------------------------------------


class CompiledRule(partial[bool]):
    """A rule ready to run: ``rule(features)`` is true when the rule fires.

    ``names`` are the features it reads (the engine computes only those); the mapping
    given must hold each of them. ``test`` is the function calling the rule calls.

    It is a ``functools.partial`` of ``test`` with no arguments, not a class with a
    ``__call__`` method, because a partial is called from C: a method would cost a
    Python call more on every rule of every sale (about 0.1 µs, as much as a whole
    ``name >= constant`` rule; see bench/risk_expr.py).
    """

    __slots__ = ("_params", "names", "source", "tree")
    source: str
    names: frozenset[str]
    _params: dict[str, Param]
    tree: _Tree  # its shape, for ``rule_set``

    def __new__(
        cls,
        source: str,
        test: Callable[[Features], bool],
        names: frozenset[str],
        params: Mapping[str, Param],
        tree: _Tree | None = None,
    ) -> CompiledRule:
        self = super().__new__(cls, test)
        self.source = source
        self.names = names
        self._params = dict(params)
        self.tree = ("call", test) if tree is None else tree
        return self

    @property
    def test(self) -> Callable[[Features], bool]:
        return self.func

    def explain(self, features: Features) -> dict[str, Param]:
        """The values the rule used: its features (from ``features``) and parameters,
        the evidence kept with a decision."""
        evidence: dict[str, Param] = {name: features[name] for name in sorted(self.names)}
        evidence.update(self._params)
        return evidence

    def __repr__(self) -> str:
        return f"CompiledRule({self.source!r})"


def compile_rule(
    source: str, features: Collection[str], params: Mapping[str, Param] = _NO_PARAMS
) -> CompiledRule:
    """Compile ``source`` over the known feature names and the parameters' values, or
    raise ExprError."""
    return _Compiler(source, features, params).compile()


def check(source: str, features: Collection[str], params: Mapping[str, Param]) -> None:
    """Raise ExprError if ``source`` is not a rule over these features and parameters
    (for the API and the CLI to refuse a draft before it is saved)."""
    compile_rule(source, features, params)


# --- a rule set as one function ------------------------------------------------------

_COMPARE_NODES: dict[str, type[ast.cmpop]] = {
    "==": ast.Eq, "!=": ast.NotEq, "<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE,
    "in": ast.In, "not in": ast.NotIn,
}  # fmt: skip
_LITERAL_TYPES = (int, bool, str)  # a ``type()`` among these is written as a literal


def rule_set(
    rules: Sequence[CompiledRule], numbers: Collection[str]
) -> Callable[[Features], list[int]]:
    """One function running every rule of ``rules`` on the features given: the indices
    of those that fire, in order. The same answers as calling each rule (a property
    test holds them together), at a fraction of the cost on a busy host: one small
    function instead of a tree of closures per rule, whose scattered objects each cost a
    cache miss when the rest of a sale has pushed them out of the CPU's caches.

    ``numbers``: the features whose values are always numbers or yes/no (never a text);
    a comparison of one of them with a number cannot fail, so it is written out as
    Python's own. Any other part (arithmetic, a comparison that might meet a text)
    calls its closure, which gives UNDEFINED or false where Python would raise.

    The function is built as a syntax tree from the compiled rules' shapes, never from
    their text: feature names are string constants, numbers and texts literal
    constants, every other value (a Decimal, a closure) a default argument. Nothing an
    operator wrote is parsed again or run as code.
    """
    extra: list[Any] = []  # the default arguments ``_0``, ``_1``...

    def value(v: Any) -> ast.expr:
        if type(v) in _LITERAL_TYPES or (
            type(v) is frozenset and all(type(x) in _LITERAL_TYPES for x in v)
        ):
            return ast.Constant(v)
        extra.append(v)
        return ast.Name(f"_{len(extra) - 1}", ast.Load())

    def read(name: str) -> ast.expr:
        return ast.Subscript(ast.Name("f", ast.Load()), ast.Constant(name), ast.Load())

    def call(fn: _Fn) -> ast.expr:
        return ast.Call(value(fn), [ast.Name("f", ast.Load())], [])

    def node(tree: _Tree) -> ast.expr:
        shape = tree[0]
        if shape == "read":
            return read(tree[1])
        if shape == "compare":
            _, fn, name, symbol, constant, kind = tree
            if symbol in ("==", "!=") or (name in numbers and (kind in _NUMERIC or kind == SET)):
                return ast.Compare(read(name), [_COMPARE_NODES[symbol]()], [value(constant)])
            return call(fn)
        if shape == "range":
            _, fn, name, low, low_symbol, high, high_symbol = tree
            if name not in numbers:
                return call(fn)
            ops: list[ast.cmpop] = [_COMPARE_NODES[low_symbol](), _COMPARE_NODES[high_symbol]()]
            return ast.Compare(value(low), ops, [read(name), value(high)])
        if shape == "not":
            return ast.UnaryOp(ast.Not(), node(tree[1]))
        if shape in ("and", "or"):
            op = ast.And() if shape == "and" else ast.Or()
            return ast.BoolOp(op, [node(t) for t in tree[1]])
        if shape == "const":
            return value(tree[1])
        return call(tree[1])

    hits = ast.Name("hits", ast.Load())
    body: list[ast.stmt] = [ast.Assign([ast.Name("hits", ast.Store())], ast.List([], ast.Load()))]
    for i, rule in enumerate(rules):
        append = ast.Call(ast.Attribute(hits, "append", ast.Load()), [ast.Constant(i)], [])
        body.append(ast.If(node(rule.tree), [ast.Expr(append)], []))
    body.append(ast.Return(hits))
    names = [f"_{i}" for i in range(len(extra))]
    arguments = ast.arguments(
        posonlyargs=[],
        args=[ast.arg("f"), *(ast.arg(n) for n in names)],
        kwonlyargs=[],
        kw_defaults=[],
        defaults=[ast.Name(n, ast.Load()) for n in names],
    )
    function = ast.FunctionDef("rules", arguments, body, [], None)
    module = ast.fix_missing_locations(ast.Module([function], []))
    namespace: dict[str, Any] = {"__builtins__": {}, **dict(zip(names, extra, strict=True))}
    exec(compile(module, "<risk rules>", "exec"), namespace)  # noqa: S102 (see above)
    made: Callable[[Features], list[int]] = namespace["rules"]
    return made


# --- static types -------------------------------------------------------------------

BOOL, NUM, STR, SET, ANY = "bool", "number", "text", "set", "any"
_NUMERIC = frozenset({NUM, BOOL})  # Python's bool is a number; so is a rule's


@dataclass(frozen=True, slots=True)
class _Part:
    """A compiled sub-expression: its static type (``ANY`` for a feature, whose type is
    known only when a sale is screened), the closure that computes it and, for a
    constant, the value (``const``); ``name`` when it is a bare feature."""

    kind: str
    fn: _Fn
    const: bool = False
    value: Any = None
    name: str | None = None
    names: frozenset[str] = frozenset()
    elements: frozenset[str] = frozenset()  # the kinds in a SET
    junction: tuple[bool, tuple[_Fn, ...]] | None = None  # and (True) or or, and operands
    tree: _Tree | None = None  # its shape, for ``rule_set`` (None: call ``fn``)


def _tree(part: _Part) -> _Tree:
    if part.tree is not None:
        return part.tree
    return ("const", part.value) if part.const else ("call", part.fn)


def _constant(value: Any, kind: str, elements: frozenset[str] = frozenset()) -> _Part:
    return _Part(kind, _const_fn(value), const=True, value=value, elements=elements)


def _kind_of_scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return NUM
    if isinstance(value, Decimal):
        return NUM if value.is_finite() else None
    if isinstance(value, str):
        return STR
    return None


_COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}


class _Compiler:
    def __init__(self, source: str, features: Collection[str], params: Mapping[str, Param]) -> None:
        self.original = source
        # Line ends as the parser counts lines, so that offsets agree with its positions.
        self.source = source.replace("\r\n", "\n").replace("\r", "\n")
        # The parser refuses leading blanks in eval mode; an operator's pasted rule has
        # them. Positions stay those of the source as written.
        self.text = self.source.lstrip()
        self.shift = len(self.source) - len(self.text)
        self.lines = self.text.split("\n")
        self.features = features
        self.params = params
        self.used: dict[str, Param] = {}

    # -- errors --

    def error(self, problem: Problem, node: ast.AST, text: str | None = None) -> ExprError:
        if text is None:
            text = ast.get_source_segment(self.text, node) or ""
        return ExprError(problem, self.source, self.offset_of(node), text)

    def offset_of(self, node: ast.AST) -> int:
        lineno = getattr(node, "lineno", 1)
        col_bytes = getattr(node, "col_offset", 0)
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        column = len(line.encode()[:col_bytes].decode(errors="replace"))
        return self.shift + sum(len(before) + 1 for before in self.lines[: lineno - 1]) + column

    def error_at(self, problem: Problem, offset: int) -> ExprError:
        text = self.source[offset:].strip() or _tail(self.source[:offset])
        return ExprError(problem, self.source, offset, text)

    # -- the whole rule --

    def compile(self) -> CompiledRule:
        if len(self.original) > MAX_SOURCE_CHARS:
            raise self.error_at(Problem.TOO_LONG, MAX_SOURCE_CHARS)
        tree = self.parse()
        count = 0
        for node in ast.walk(tree):
            if isinstance(node, ast.expr):
                count += 1
                if count > MAX_NODES:
                    raise self.error(Problem.TOO_BIG, node)
        root = self.part(tree.body, 1)
        if root.kind not in (BOOL, ANY):
            raise self.error(Problem.NOT_A_CONDITION, tree.body)
        test: _Fn
        shape = ("const", bool(root.value)) if root.const else _tree(root)
        if root.const:
            test = _const_fn(bool(root.value))
        elif root.kind == BOOL:
            test = root.fn
        elif root.junction is not None:
            test = _truth_junction(*root.junction)
        else:
            test = _truth(root.fn)
        return CompiledRule(self.original, test, root.names, self.used, shape)

    def parse(self) -> ast.Expression:
        # A backslash has no use in a rule (no escapes, no continued lines) and would
        # make the parser warn, into a log, of an invalid escape.
        if "\\" in self.source:
            raise self.error_at(Problem.NOT_ALLOWED, self.source.index("\\"))
        try:
            return ast.parse(self.text, mode="eval")
        except SyntaxError as e:
            raise self.error_at(Problem.SYNTAX, self.syntax_offset(e)) from None
        except (RecursionError, MemoryError):
            raise self.error_at(Problem.TOO_DEEP, self.shift) from None
        except ValueError:  # null bytes (3.12 and later), unencodable surrogates
            bad = next((i for i, c in enumerate(self.source) if _unparsable(c)), 0)
            raise self.error_at(Problem.SYNTAX, bad) from None

    def syntax_offset(self, e: SyntaxError) -> int:
        if "\x00" in self.text:
            return self.source.index("\x00")
        if not e.lineno or not e.offset or e.lineno > len(self.lines):
            return len(self.source.rstrip())  # the parser ran out of text
        # The parser's offset is 1-based, in characters.
        before = sum(len(line) + 1 for line in self.lines[: e.lineno - 1])
        return self.shift + before + min(e.offset - 1, len(self.lines[e.lineno - 1]))

    # -- the walk --

    def part(self, node: ast.expr, depth: int) -> _Part:
        if depth > MAX_DEPTH:
            raise self.error(Problem.TOO_DEEP, node)
        depth += 1
        if isinstance(node, ast.Constant):
            return self.literal(node)
        if isinstance(node, ast.Name | ast.Attribute):
            return self.named(node)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.BoolOp):
            return self.boolean(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.arithmetic(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.error(Problem.NOT_ALLOWED, node)

    def literal(self, node: ast.Constant) -> _Part:
        value = node.value
        if isinstance(value, float):
            # Never through the float: the digits as written.
            written = ast.get_source_segment(self.text, node) or ""
            if not _DECIMAL_LITERAL.fullmatch(written):
                raise self.error(Problem.NOT_ALLOWED, node)
            return _constant(Decimal(written.replace("_", "")), NUM)
        kind = _kind_of_scalar(value)
        if kind is None:  # bytes, None, ..., complex
            raise self.error(Problem.NOT_ALLOWED, node)
        return _constant(value, kind)

    def named(self, node: ast.Name | ast.Attribute) -> _Part:
        dotted: list[str] = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            dotted.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name):
            raise self.error(Problem.NOT_ALLOWED, node)  # an attribute of something else
        dotted.append(base.id)
        name = ".".join(reversed(dotted))
        if name in self.params:
            if name in self.features:
                raise self.error(Problem.AMBIGUOUS_NAME, node, name)
            return self.parameter(name, node)
        if name in self.features:
            return _Part(ANY, _read(name), name=name, names=frozenset((name,)), tree=("read", name))
        raise self.error(Problem.UNKNOWN_NAME, node, name)

    def parameter(self, name: str, node: ast.expr) -> _Part:
        value = self.params[name]
        self.used[name] = value
        if isinstance(value, tuple | list | set | frozenset):
            kinds = [_kind_of_scalar(v) for v in value]
            if None in kinds:
                raise self.error(Problem.WRONG_TYPE, node, name)
            return _constant(frozenset(value), SET, frozenset(k for k in kinds if k))
        kind = _kind_of_scalar(value)
        if kind is None:  # a float above all: money and rates are never floats
            raise self.error(Problem.WRONG_TYPE, node, name)
        return _constant(value, kind)

    def collection(self, node: ast.expr, depth: int) -> _Part:
        """The right side of ``in``: a tuple or list of constants, or a parameter that
        is one."""
        if not isinstance(node, ast.Tuple | ast.List):
            found = self.part(node, depth)
            if found.kind != SET:
                raise self.error(Problem.WRONG_TYPE, node)
            return found
        if depth > MAX_DEPTH:
            raise self.error(Problem.TOO_DEEP, node)
        values = []
        kinds = set()
        for element in node.elts:
            got = self.part(element, depth + 1)
            if not got.const or got.kind == SET or got.value is UNDEFINED:
                raise self.error(Problem.NOT_ALLOWED, element)
            values.append(got.value)
            kinds.add(got.kind)
        return _constant(frozenset(values), SET, frozenset(kinds))

    def unary(self, node: ast.UnaryOp, depth: int) -> _Part:
        if isinstance(node.op, ast.Not):
            operand = self.part(node.operand, depth)
            if operand.kind == SET:
                raise self.error(Problem.WRONG_TYPE, node.operand)
            tree = ("not", _tree(operand))
            if operand.name is not None:
                return _Part(BOOL, _not_read(operand.name), names=operand.names, tree=tree)
            negated = _fold(BOOL, _not(operand.fn), operand)
            return negated if negated.const else replace(negated, tree=tree)
        if isinstance(node.op, ast.USub):
            operand = self.number(node.operand, depth)
            return _fold(NUM, _negative(operand.fn), operand)
        raise self.error(Problem.NOT_ALLOWED, node)  # unary + and ~

    def number(self, node: ast.expr, depth: int) -> _Part:
        found = self.part(node, depth)
        if found.kind not in (NUM, BOOL, ANY):
            raise self.error(Problem.WRONG_TYPE, node)
        return found

    def arithmetic(self, node: ast.BinOp, depth: int) -> _Part:
        symbol = _ARITHMETIC.get(type(node.op))
        if symbol is None:  # ** (a number of any size), bit operations, @
            raise self.error(Problem.NOT_ALLOWED, node)
        left = self.number(node.left, depth)
        right = self.number(node.right, depth)
        if left.name is not None and right.const:
            fn = _ARITHMETIC_NAME_CONSTANT[symbol](left.name, right.value)
        else:
            fn = _arithmetic(symbol, left.fn, right.fn)
        return _fold(NUM, fn, left, right)

    def call(self, node: ast.Call, depth: int) -> _Part:
        function = node.func
        if not isinstance(function, ast.Name) or function.id not in FUNCTIONS:
            raise self.error(Problem.NOT_ALLOWED, function)
        if node.keywords:
            raise self.error(Problem.NOT_ALLOWED, node.keywords[0])
        args = [self.number(arg, depth) for arg in node.args]
        wanted_one = function.id == "abs"
        if (len(args) != 1) if wanted_one else (len(args) < 2):
            raise self.error(Problem.ARGUMENTS, node)
        if wanted_one:
            return _fold(NUM, _abs(args[0].fn), *args)
        return _fold(NUM, _min_max(function.id == "min", [a.fn for a in args]), *args)

    def boolean(self, node: ast.BoolOp, depth: int) -> _Part:
        parts = []
        for value in node.values:
            found = self.part(value, depth)
            if found.kind == SET:
                raise self.error(Problem.WRONG_TYPE, value)
            parts.append(found)
        return _junction(isinstance(node.op, ast.And), parts)

    def compare(self, node: ast.Compare, depth: int) -> _Part:
        symbols = []
        for op in node.ops:
            symbol = _COMPARISONS.get(type(op))
            if symbol is None:  # is, is not
                raise self.error(Problem.NOT_ALLOWED, node)
            symbols.append(symbol)
        operands = [self.part(node.left, depth)]
        for symbol, comparator in zip(symbols, node.comparators, strict=True):
            if symbol in ("in", "not in"):
                operands.append(self.collection(comparator, depth))
            else:
                operands.append(self.part(comparator, depth))
        for i, symbol in enumerate(symbols):
            left, right = operands[i], operands[i + 1]
            if left.kind == SET or (right.kind == SET and symbol not in ("in", "not in")):
                raise self.error(Problem.WRONG_TYPE, node)
            if _mismatched(left, symbol, right):
                raise self.error(Problem.WRONG_TYPE, node)
        if len(symbols) == 2 and (ranged := _range(operands, symbols)) is not None:
            return ranged
        # A chain is the conjunction of its links: the operands have no side effects,
        # so the only difference with Python's (each middle operand computed once) is
        # time, and each link gets its specialised closure.
        links = [
            _comparison(operands[i], symbol, operands[i + 1]) for i, symbol in enumerate(symbols)
        ]
        return links[0] if len(links) == 1 else _junction(True, links)


def _unparsable(c: str) -> bool:
    return c == "\x00" or "\ud800" <= c <= "\udfff"


def _mismatched(left: _Part, symbol: str, right: _Part) -> bool:
    """A text against a number, when both types are known before any sale."""
    if symbol in ("in", "not in"):
        if not right.elements or left.kind == ANY:
            return False
        if left.kind == STR:
            return STR not in right.elements
        return not (right.elements & _NUMERIC)
    kinds = {left.kind, right.kind}
    return STR in kinds and bool(kinds & _NUMERIC)


def _fold(kind: str, fn: _Fn, *parts: _Part) -> _Part:
    """A part of ``parts``; computed now if none of them reads a feature."""
    if all(p.const for p in parts):
        return _constant(fn({}), kind)
    names = frozenset().union(*(p.names for p in parts))
    return _Part(kind, fn, names=names)


def _junction(conjunction: bool, parts: list[_Part]) -> _Part:
    """``and`` (``conjunction``) or ``or`` of ``parts``, the constants among them folded
    as Python would evaluate them: a constant that decides stops it, one that does not
    is dropped unless it is last (its value is then the result)."""
    kept: list[_Part] = []
    for i, p in enumerate(parts):
        if p.const:
            decides = not p.value if conjunction else bool(p.value)
            if decides or i == len(parts) - 1:
                kept.append(p)
                break
            continue
        kept.append(p)
    if len(kept) == 1:
        # Still a condition when folded: ``0 and card.credit`` is a false one.
        only = kept[0]
        return only if only.kind == BOOL or len(parts) == 1 else replace(only, kind=ANY)
    # Of conditions, a condition; else one of its operands, whichever decided, and a
    # condition by its truth (``card.count_10m and ...`` as in Python).
    kind = BOOL if all(p.kind == BOOL for p in kept) else ANY
    fns = [p.fn for p in kept]
    return _Part(
        kind,
        _and(fns) if conjunction else _or(fns),
        names=frozenset().union(*(p.names for p in kept)),
        junction=(conjunction, tuple(fns)),
        tree=("and" if conjunction else "or", tuple(_tree(p) for p in kept)),
    )


def _comparable(value: Any) -> Any:
    """A Decimal constant with no fraction as an int: the same comparisons, much faster
    against an int (the common case: money in minor units)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _comparison(left: _Part, symbol: str, right: _Part) -> _Part:
    if left.const and right.const:
        return _fold(BOOL, _compare_fns(symbol, left.fn, right.fn), left, right)
    if left.const and symbol in _FLIPPED:
        left, symbol, right = right, _FLIPPED[symbol], left  # 5 <= n is n >= 5
    names = left.names | right.names
    if right.const:
        constant = right.value if right.kind == SET else _comparable(right.value)
        if left.name is not None:
            fn = _COMPARE_NAME_CONSTANT[symbol](left.name, constant)
            tree = ("compare", fn, left.name, symbol, constant, right.kind)
            return _Part(BOOL, fn, names=names, tree=tree)
        fn = _compare_fn_constant(symbol, left.fn, constant)
        return _Part(BOOL, fn, names=names)
    return _Part(BOOL, _compare_fns(symbol, left.fn, right.fn), names=names)


def _range(operands: list[_Part], symbols: list[str]) -> _Part | None:
    """``lo <= name < hi`` and its kin: one closure instead of two links."""
    low, middle, high = operands
    if not (low.const and high.const and middle.name is not None):
        return None
    if low.kind not in _NUMERIC or high.kind not in _NUMERIC:
        return None
    if all(s in ("<", "<=") for s in symbols):
        low_symbol, high_symbol = symbols
    elif all(s in (">", ">=") for s in symbols):  # hi > name >= lo
        low, high = high, low
        high_symbol, low_symbol = (_FLIPPED[s] for s in symbols)
    else:
        return None
    bounds = (_comparable(low.value), low_symbol, _comparable(high.value), high_symbol)
    fn = _range_fn(middle.name, bounds[0], low_symbol == "<=", bounds[2], high_symbol == "<=")
    return _Part(BOOL, fn, names=middle.names, tree=("range", fn, middle.name, *bounds))


# --- closures -----------------------------------------------------------------------
# Each is small and does one thing with what it was given at compile time; the ones for
# the common shapes have the operator written out, not looked up.


def _const_fn(value: Any) -> _Fn:
    def run(f: Features) -> Any:
        return value

    return run


def _read(name: str) -> _Fn:
    def run(f: Features) -> Any:
        return f[name]

    return run


def _truth(fn: _Fn) -> _Fn:
    def run(f: Features) -> bool:
        return bool(fn(f))

    return run


def _truth_junction(conjunction: bool, fns: tuple[_Fn, ...]) -> _Fn:
    """A rule's ``and``/``or`` of operands that are not all conditions (a feature):
    ``bool`` of it in the same closure, a call less than ``_truth`` around it."""
    if len(fns) == 2:
        a, b = fns
        if conjunction:

            def and2(f: Features) -> bool:
                return bool(a(f) and b(f))

            return and2

        def or2(f: Features) -> bool:
            return bool(a(f) or b(f))

        return or2
    if len(fns) == 3:
        a, b, c = fns
        if conjunction:

            def and3(f: Features) -> bool:
                return bool(a(f) and b(f) and c(f))

            return and3

        def or3(f: Features) -> bool:
            return bool(a(f) or b(f) or c(f))

        return or3
    return _truth(_and(list(fns)) if conjunction else _or(list(fns)))


def _not_read(name: str) -> _Fn:
    def run(f: Features) -> bool:
        return not f[name]

    return run


def _not(fn: _Fn) -> _Fn:
    def run(f: Features) -> bool:
        return not fn(f)

    return run


def _and(fns: list[_Fn]) -> _Fn:
    if len(fns) == 2:
        a, b = fns

        def run2(f: Features) -> Any:
            return a(f) and b(f)

        return run2
    if len(fns) == 3:
        a, b, c = fns

        def run3(f: Features) -> Any:
            return a(f) and b(f) and c(f)

        return run3
    first, last = tuple(fns[:-1]), fns[-1]

    def run(f: Features) -> Any:
        for fn in first:
            value = fn(f)
            if not value:
                return value
        return last(f)

    return run


def _or(fns: list[_Fn]) -> _Fn:
    if len(fns) == 2:
        a, b = fns

        def run2(f: Features) -> Any:
            return a(f) or b(f)

        return run2
    if len(fns) == 3:
        a, b, c = fns

        def run3(f: Features) -> Any:
            return a(f) or b(f) or c(f)

        return run3
    first, last = tuple(fns[:-1]), fns[-1]

    def run(f: Features) -> Any:
        for fn in first:
            value = fn(f)
            if value:
                return value
        return last(f)

    return run


def _negative(fn: _Fn) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return -fn(f)
        except _FAILS:  # a text
            return UNDEFINED

    return run


def _abs(fn: _Fn) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return abs(fn(f))
        except _FAILS:
            return UNDEFINED

    return run


def _min_max(smallest: bool, fns: list[_Fn]) -> _Fn:
    pick = min if smallest else max
    if len(fns) == 2:
        a, b = fns

        # As the built-ins choose (the first of equals), without their slow call.
        def min2(f: Features) -> Any:
            x = a(f)
            y = b(f)
            if x is UNDEFINED or y is UNDEFINED or isinstance(x, str) or isinstance(y, str):
                return UNDEFINED
            try:
                return y if y < x else x
            except _FAILS:
                return UNDEFINED

        def max2(f: Features) -> Any:
            x = a(f)
            y = b(f)
            if x is UNDEFINED or y is UNDEFINED or isinstance(x, str) or isinstance(y, str):
                return UNDEFINED
            try:
                return y if y > x else x
            except _FAILS:
                return UNDEFINED

        return min2 if smallest else max2

    def run(f: Features) -> Any:
        values = [fn(f) for fn in fns]
        for value in values:
            if value is UNDEFINED or isinstance(value, str):
                return UNDEFINED
        try:
            return pick(values)
        except _FAILS:
            return UNDEFINED

    return run


def _divide(x: Any, y: Any) -> Any:
    return _DIVISION.divide(x, y)


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
    "//": operator.floordiv,
    "%": operator.mod,
}


def _arithmetic(symbol: str, a: _Fn, b: _Fn) -> _Fn:
    """Any two operands. A text gives UNDEFINED (``"%9999999d" % 1`` or a text times a
    big number would fill the memory), and so does a zero divisor whatever the decimal
    context traps."""
    op = _OPERATORS[symbol]
    dividing = symbol in ("/", "//", "%")

    def run(f: Features) -> Any:
        x = a(f)
        y = b(f)
        if isinstance(x, str) or isinstance(y, str) or (dividing and not y):
            return UNDEFINED
        try:
            return op(x, y)
        except _FAILS:
            return UNDEFINED

    return run


def _add_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        x = f[n]
        if isinstance(x, str):
            return UNDEFINED
        try:
            return x + c
        except _FAILS:
            return UNDEFINED

    return run


def _sub_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] - c
        except _FAILS:  # a text
            return UNDEFINED

    return run


def _mul_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        x = f[n]
        if isinstance(x, str):
            return UNDEFINED
        try:
            return x * c
        except _FAILS:
            return UNDEFINED

    return run


def _undefined_if_zero(c: Any, make: Callable[[], _Fn]) -> _Fn:
    if isinstance(c, str) or not c:
        return _const_fn(UNDEFINED)
    return make()


def _div_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        x = f[n]
        if isinstance(x, str):
            return UNDEFINED
        try:
            return _DIVISION.divide(x, c)
        except _FAILS:
            return UNDEFINED

    return _undefined_if_zero(c, lambda: run)


def _floordiv_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] // c
        except _FAILS:  # a text
            return UNDEFINED

    return _undefined_if_zero(c, lambda: run)


def _mod_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        x = f[n]
        if isinstance(x, str):
            return UNDEFINED
        try:
            return x % c
        except _FAILS:
            return UNDEFINED

    return _undefined_if_zero(c, lambda: run)


_ARITHMETIC_NAME_CONSTANT: dict[str, Callable[[str, Any], _Fn]] = {
    "+": _add_nc,
    "-": _sub_nc,
    "*": _mul_nc,
    "/": _div_nc,
    "//": _floordiv_nc,
    "%": _mod_nc,
}


def _not_in(x: Any, s: Any) -> bool:
    return x is not UNDEFINED and x not in s


_COMPARE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda x, s: x in s,
    "not in": _not_in,
}


def _compare_fns(symbol: str, a: _Fn, b: _Fn) -> _Fn:
    op = _COMPARE_OPERATORS[symbol]

    def run(f: Features) -> bool:
        try:
            return bool(op(a(f), b(f)))
        except _FAILS:  # a text against a number, a signalling NaN
            return False

    return run


# ``name <op> constant``: the most common shape of all.


def _eq_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] == c
        except _FAILS:
            return False

    return run


def _ne_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] != c
        except _FAILS:
            return False

    return run


def _lt_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] < c
        except _FAILS:
            return False

    return run


def _le_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] <= c
        except _FAILS:
            return False

    return run


def _gt_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] > c
        except _FAILS:
            return False

    return run


def _ge_nc(n: str, c: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] >= c
        except _FAILS:
            return False

    return run


def _in_nc(n: str, s: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] in s
        except _FAILS:  # unhashable: a signalling NaN
            return False

    return run


def _not_in_nc(n: str, s: Any) -> _Fn:
    def run(f: Features) -> Any:
        try:
            return f[n] not in s
        except _FAILS:
            return False

    return run


_COMPARE_NAME_CONSTANT: dict[str, Callable[[str, Any], _Fn]] = {
    "==": _eq_nc,
    "!=": _ne_nc,
    "<": _lt_nc,
    "<=": _le_nc,
    ">": _gt_nc,
    ">=": _ge_nc,
    "in": _in_nc,
    "not in": _not_in_nc,
}


def _compare_fn_constant(symbol: str, a: _Fn, c: Any) -> _Fn:
    """``expression <op> constant`` (``amount % 100_00 == 0``): the left side computes
    its own UNDEFINED, whose comparisons are false by themselves."""
    op = _COMPARE_OPERATORS[symbol]

    def run(f: Features) -> Any:
        try:
            return op(a(f), c)
        except _FAILS:
            return False

    return run


def _range_fn(n: str, low: Any, low_closed: bool, high: Any, high_closed: bool) -> _Fn:
    if low_closed and high_closed:

        def closed(f: Features) -> Any:
            try:
                return low <= f[n] <= high
            except _FAILS:
                return False

        return closed
    if low_closed:

        def closed_open(f: Features) -> Any:
            try:
                return low <= f[n] < high
            except _FAILS:
                return False

        return closed_open
    if high_closed:

        def open_closed(f: Features) -> Any:
            try:
                return low < f[n] <= high
            except _FAILS:
                return False

        return open_closed

    def open_(f: Features) -> Any:
        try:
            return low < f[n] < high
        except _FAILS:
            return False

    return open_
