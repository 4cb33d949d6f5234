"""The in-memory feature store that risk rules read on every card and wallet payment.

The engine tells the store about every attempt (:meth:`FeatureStore.add`, once, when it
decides) and its answer (:meth:`FeatureStore.add_outcome`, once, when the answer is
recorded), and asks it for the features of the attempt about to be decided
(:meth:`FeatureStore.compute`, the attempt itself not included). Pure Python, no clock:
every time is passed in as epoch seconds, and the business hour of day (Asia/Shanghai)
is given by the caller.

Windows and how exact they are
------------------------------
Counts are kept in fixed time buckets aligned on the epoch:

=========================  ================  ===================================
window                     bucket            exact to
=========================  ================  ===================================
10 minutes (``_10m``)      1 minute          the minute
1 hour (``_1h``)           10 minutes        10 minutes
24 hours (``_24h``)        10 minutes        10 minutes
7 days (``_7d``)           1 day (UTC)       the day
30 days (``_30d``)         1 day (UTC)       the day
=========================  ================  ===================================

A window of ``W`` seconds in buckets of ``w`` seconds counts the events of its last
``W / w`` buckets, the current one included: an event at ``t`` is in the window at
``now`` when ``t // w > (now - W) // w``. So an event ``W`` or more seconds old is never
counted (one exactly 10 minutes old is out of a 10-minute window), one at most ``W - w``
seconds old always is, and in between the bucket decides (the oldest, partial bucket is
left out). Events later than ``now`` (clocks of several processes) count as in the
window; an event older than its longest window is dropped. Times are expected to move
forward, give or take such skew.

Memory, whatever the traffic
----------------------------
Every map is a least-recently-seen cache (seen = an attempt was added; ``compute``
touches nothing): at most ``Caps.cards`` cards, ``Caps.pairs`` card and merchant pairs,
``Caps.terminals`` terminals, ``Caps.merchants`` merchants, and ``Caps.in_flight``
attempts awaiting their answer. An evicted key just starts again from 0: a card,
terminal or merchant not seen for a long while under heavy traffic has its counts
forgotten, which can only lower them.

- A card keeps its last attempts themselves (the ``Event`` objects, at most
  ``Caps.card_events`` = 64, none older than 7 days): its windows follow the bucket rule
  above exactly, and a card with more than 64 attempts in 7 days has its oldest ones
  forgotten first, so its counts stop growing at 64 (velocity rules fire long before).
  Most cards have one or two attempts: this costs one list, not a set of buckets, and
  ``add`` only appends to it. A busy card (``Caps.card_memo`` attempts or more) also
  keeps its counts of the current minute (``_CardMemo``, a few hundred bytes, gone with
  the card), so deciding its next attempt does not loop over its 64 attempts again.
- A card and merchant pair keeps the day of its last attempt and its approved amounts per
  day: what the merchant's ``distinct_cards_7d`` and ``top3_share_7d`` read.
- A terminal and a merchant keep one entry per bucket that had an attempt (at most 10
  one-minute, 6 or 144 ten-minute, 30 one-day buckets), dropped as time moves on.

Sets saturate (their counts are exact up to the cap, then stay at the cap until cards
age out):

- a terminal tracks at most ``Caps.terminal_cards`` distinct cards over its last hour
  (``distinct_cards_*``, ``bin_run_10m``), and all terminals together at most
  ``Caps.terminal_cards_total`` (past that the least recently seen terminals are evicted);
- a merchant's ``distinct_cards_7d`` and ``top3_share_7d`` count the cards of its pairs
  still in the pair map, at most ``Caps.merchant_cards`` per merchant: a card arriving at
  a full merchant is not tracked there (its amounts still count in ``approved_7d``, not in
  the top 3). The top 3 is worked out again once a day per merchant (about 1 ms per
  1,000 cards tracked), and kept up to date with each approval in between.

Sizes, measured with tracemalloc: an attempt kept (an ``Event`` and its fields) is about
0.43 KB, a card with its pair about 0.42 KB more; the million distinct cards of
tests/unit/risk/test_features.py leave the default caps full in 190 MB (bound: 400 MB).
Worst cases per key: a card 64 attempts (about 30 KB), but all cards together at most
``Caps.card_events_total`` attempts (about 260 MB; past that the least recently seen
cards are evicted); a merchant selling in every 10-minute bucket of the day and every
day of the month about 18 KB (900 MB if all 50,000 do: size ``Caps.merchants`` to the
memory there is); a terminal tracking 1,000 cards about 100 KB, all terminals together
at most ``Caps.terminal_cards_total`` cards (about 100 MB).

Outcomes are never counted twice: an attempt added without an answer waits in the
in-flight map (by rrn) until its answer; ``add_outcome`` for an rrn not waiting there
(already answered, never added, or evicted from a full in-flight map) counts nothing.
The same attempt must not be given to ``add`` twice (nothing checks it).

A store is one process's memory and is not thread-safe: one per event loop. Its counts
are those of the attempts this process saw (see the architecture's rule on state shared
across processes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_

MINUTE_S = 60
TEN_MINUTES_S = 600
DAY_S = 86_400
SMALL_MAX_MINOR = 1_000  # 10.00 CNY: what card testers try first
BIN_SPAN = 100  # last four digits within 100 of each other: max - min <= 99
LINKED_MAX = 20
TERMINAL_RRNS = 10
PLANS_MAX = 256  # distinct name sets remembered by compute

_MIN_10M = 10  # one-minute buckets in the 10-minute windows
_TEN_1H = 6  # ten-minute buckets in an hour
_TEN_24H = 144
_DAY_7D = 7
_DAY_30D = 30
_APPROVED = "00"


@dataclass(slots=True)
class Event:
    """One payment attempt as the risk engine sees it (never a clear PAN). Never changed
    once made (its answer is a new one): not frozen only because a frozen dataclass
    takes ten times as long to make, and every sale makes two."""

    at_s: int  # when, epoch seconds (UTC)
    hour: int  # business hour of day 0..23 (Asia/Shanghai), given by the caller
    rrn: str  # the payment's reference (unique)
    merchant_id: int
    terminal_id: int | None  # None: an API payment
    card: str | None  # the card's keyed-hash token; None for wallet codes
    bin6: str | None  # first six digits (from the masked PAN)
    last4: int | None  # last four digits
    amount_minor: int
    credit: bool
    response_code: str | None  # None while in flight; "00" approved


@dataclass(frozen=True, slots=True)
class Caps:
    """The bounds of every map and set of a :class:`FeatureStore`."""

    cards: int = 200_000
    pairs: int = 200_000
    terminals: int = 100_000
    merchants: int = 50_000
    terminal_cards: int = 1_000
    terminal_cards_total: int = 1_000_000
    merchant_cards: int = 5_000
    card_events: int = 64
    card_events_total: int = 600_000
    in_flight: int = 100_000
    # A card with at least this many attempts kept has its counts of the minute kept
    # between decisions (``_CardMemo``): a busy card costs a decision what a quiet one does.
    card_memo: int = 8

    def __post_init__(self) -> None:
        for field in fields(self):
            name = field.name
            if getattr(self, name) < 1:
                raise InvalidInput(
                    "risk.caps",
                    N_("Feature store cap {name} must be at least 1"),
                    name=name,
                )


DESCRIPTIONS: dict[str, str] = {
    "card.count_10m": N_("Attempts of this card in the last 10 minutes"),
    "card.count_1h": N_("Attempts of this card in the last hour"),
    "card.count_24h": N_("Attempts of this card in the last 24 hours"),
    "card.amount_24h": N_("Amount this card attempted in the last 24 hours, in minor units"),
    "card.declines_10m": N_("Declined attempts of this card in the last 10 minutes"),
    "card.declines_1h": N_("Declined attempts of this card in the last hour"),
    "card.merchant_count_24h": N_("Attempts of this card at this merchant in the last 24 hours"),
    "card.merchant_count_7d": N_("Attempts of this card at this merchant in the last 7 days"),
    "card.merchants_24h": N_("Distinct merchants this card paid at in the last 24 hours"),
    "terminal.count_10m": N_("Attempts on this terminal in the last 10 minutes"),
    "terminal.count_1h": N_("Attempts on this terminal in the last hour"),
    "terminal.distinct_cards_10m": N_("Distinct cards on this terminal in the last 10 minutes"),
    "terminal.distinct_cards_1h": N_("Distinct cards on this terminal in the last hour"),
    "terminal.declines_10m": N_("Declined attempts on this terminal in the last 10 minutes"),
    "terminal.small_10m": N_(
        "Attempts of at most 10.00 CNY on this terminal in the last 10 minutes"
    ),
    "terminal.bin_run_10m": N_(
        "Most distinct cards of one BIN on this terminal in the last 10 minutes "
        "whose last four digits lie within 100 of each other, this card included"
    ),
    "merchant.count_1h": N_("Attempts at this merchant in the last hour"),
    "merchant.count_24h": N_("Attempts at this merchant in the last 24 hours"),
    "merchant.amount_24h": N_(
        "Amount attempted at this merchant in the last 24 hours, in minor units"
    ),
    "merchant.approved_7d": N_(
        "Amount approved at this merchant in the last 7 days, in minor units"
    ),
    "merchant.distinct_cards_7d": N_("Distinct cards at this merchant in the last 7 days"),
    "merchant.top3_share_7d": N_(
        "Share of this merchant's approved amount over 7 days from its 3 largest cards"
    ),
    "merchant.hour_share_30d": N_(
        "Share of this merchant's approved sales over 30 days made in this hour of the day"
    ),
    "merchant.sales_30d": N_("Approved sales of this merchant in the last 30 days"),
    "merchant.avg_ticket_30d": N_(
        "Average approved amount of this merchant over 30 days, in minor units"
    ),
}
FEATURES: frozenset[str] = frozenset(DESCRIPTIONS)

_CARD = frozenset(n for n in FEATURES if n.startswith("card."))
_TERMINAL = frozenset(n for n in FEATURES if n.startswith("terminal.")) - {"terminal.bin_run_10m"}
_MERCHANT = frozenset(n for n in FEATURES if n.startswith("merchant.")) - {"merchant.top3_share_7d"}
_WINDOW_S = {
    name: {"10m": 600, "1h": 3_600, "24h": DAY_S, "7d": 7 * DAY_S, "30d": 30 * DAY_S}[
        name.rsplit("_", 1)[1]
    ]
    for name in FEATURES
}
_SHARES: dict[int, Decimal] = {}  # 0..10_000 -> the Decimal with 4 places, filled as met


def _share(part: int, whole: int) -> Decimal:
    """part / whole rounded half-up to 4 places, within 0..1; 0 when whole is 0."""
    if whole <= 0 or part <= 0:
        q = 0
    elif part >= whole:
        q = 10_000
    else:
        q = (part * 20_000 + whole) // (2 * whole)
    d = _SHARES.get(q)
    if d is None:
        d = _SHARES[q] = Decimal(q).scaleb(-4)
    return d


def _put(s: list[int], start: int, stride: int, nsum: int, b: int, cut: int, *vals: int) -> bool:
    """Add ``vals`` to bucket ``b`` of the series ``s`` (the general case: the callers
    write out the usual ones, the last bucket or a new last bucket, for speed).

    A series is a flat list of entries in ascending order of bucket, ``stride`` ints
    each: the bucket, then its values. When it keeps running sums of its first ``nsum``
    values, it starts with one more entry (``start == stride``): bucket -1 (so that
    ``s[-stride]`` is always a bucket, older than any) and the sums. Entries at or before
    ``cut`` (out of the longest window) are dropped first, and so is ``b`` itself when it
    is that old (False).
    """
    if b <= cut:
        return False
    _purge(s, start, stride, nsum, cut)
    j = len(s) - stride
    while j >= start and s[j] > b:  # usually the last entry, or one before it
        j -= stride
    if j >= start and s[j] == b:
        for k, v in enumerate(vals):
            s[j + 1 + k] += v
    else:
        s[j + stride : j + stride] = [b, *vals]
    for k in range(nsum):
        s[1 + k] += vals[k]
    return True


def _purge(s: list[int], start: int, stride: int, nsum: int, cut: int) -> None:
    """Drop the entries at or before ``cut`` from the front of a series."""
    n = len(s)
    i = start
    while i < n and s[i] <= cut:
        for k in range(1, nsum + 1):
            s[k] -= s[i + k]
        i += stride
    if i > start:
        del s[start:i]


def _bump(s: list[int], stride: int, off: int, b: int, delta: int) -> bool:
    """Add ``delta`` to value ``off`` of bucket ``b`` of a series, if it is still there
    (True)."""
    j = len(s) - stride
    while j >= 0 and s[j] > b:
        j -= stride
    if j >= 0 and s[j] == b:
        s[j + off] += delta
        return True
    return False


def _sum_m(ts: _Terminal) -> None:
    """A terminal's sums of its minutes, worked out again (after entries left)."""
    s = ts.m
    ts.ma, ts.md, ts.ms, ts.mc = sum(s[1::5]), sum(s[2::5]), sum(s[3::5]), sum(s[4::5])


def _sum_t(ts: _Terminal) -> None:
    """A terminal's sums of its ten-minute buckets, worked out again."""
    s = ts.t
    ts.ta, ts.tc = sum(s[1::3]), sum(s[2::3])


def _count(s: list[int], b: int, cut: int) -> None:
    """One more in bucket ``b`` of a [bucket, n]* histogram whose window starts after
    ``cut``."""
    if s and s[-2] == b:
        s[-1] += 1
    elif not s or s[-2] <= cut:
        s[:] = (b, 1)
    elif s[-2] < b and s[0] > cut:
        s += (b, 1)
    else:
        _put(s, 0, 2, 0, b, cut, 1)


def _approved(p: list[int], cut: int) -> int:
    """A pair's approved amount over the days after ``cut``."""
    total = 0
    j = len(p) - 2
    while j >= 1 and p[j] > cut:
        total += p[j + 1]
        j -= 2
    return total


def _largest_run(values: list[int]) -> int:
    """The most values lying within BIN_SPAN of each other (max - min < BIN_SPAN)."""
    values.sort()
    best = i = 0
    for j, v in enumerate(values):
        while v - values[i] >= BIN_SPAN:
            i += 1
        best = max(best, j - i + 1)
    return best


def _declined(e: Event) -> bool:
    rc = e.response_code
    return rc is not None and rc != _APPROVED


class _Terminal:
    __slots__ = ("bins", "m", "ma", "mc", "md", "ms", "rr", "run_at", "run_best", "seen",
                 "swept_at", "t", "ta", "tc")  # fmt: skip

    def __init__(self, minute: int) -> None:
        # [minute, attempts, declines, small, cards last seen that minute]*
        self.m: list[int] = []
        self.t: list[int] = []  # [ten, attempts, cards last seen in those 10 minutes]*
        # The sums of the values of every entry of ``m`` and of ``t``: the counts of the
        # windows when no entry has left them since (``compute`` reads them then).
        self.ma = self.md = self.ms = self.mc = 0
        self.ta = self.tc = 0
        self.seen: dict[str, int] = {}  # card -> minute last seen (swept every 30 minutes)
        self.bins: dict[str, list[Event]] = {}  # bin6 -> last attempt of each of its cards
        self.swept_at = minute  # minute of the last sweep of ``seen`` and ``bins``
        self.run_at = -1  # minute ``run_best`` was worked out for (-1: to do again)
        self.run_best = 0  # largest run over all BINs, the attempt being decided apart
        self.rr: list[Event] = []  # the last attempts, for ``linked``


class _Merchant:
    __slots__ = ("cards", "d", "h7", "hours", "prof", "t", "top", "top_day", "top_total")

    def __init__(self) -> None:
        self.t: list[int] = [-1, 0, 0]  # -1, sums (attempts, amount), [ten, attempts, amount]*
        self.d: list[int] = [-1, 0, 0]  # -1, sums (approved, amount), [day, approved, amount]*
        self.prof: dict[int, list[int]] = {}  # day -> approved sales per hour of day
        self.hours = [0] * 24  # approved sales per hour of day over the days of ``d``
        self.cards: dict[str, list[int]] = {}  # card -> its pair, for the cards tracked here
        self.h7: list[int] = []  # [day, tracked cards whose last attempt was then]*
        self.top: list[tuple[int, str]] = []  # the 3 largest (approved_7d, card), largest first
        self.top_total = 0  # their amounts together
        self.top_day = -1  # day ``top`` is right for (-1: to work out again)


class _CardMemo:
    """A busy card's counts as ``compute`` reads them at one minute: its attempts in
    each window, declines, amount, and per merchant its attempts over 24 hours and 7
    days. Built from the card's log at the first decision of the minute, then kept up
    by each attempt added, answer counted and attempt forgotten, until the minute
    changes (the windows move): the same figures as the loop over the log, without it.
    A count is a sum over the attempts in the log, so the order they come in does not
    matter."""

    __slots__ = ("a24", "d1h", "d10", "m24", "minute", "n1h", "n10", "n24", "pairs",
                 "s1h", "s7", "s10", "s24")  # fmt: skip

    def __init__(self, minute: int, log: list[Event]) -> None:
        ten, day = minute // _MIN_10M, minute * MINUTE_S // DAY_S
        self.minute = minute
        self.s7 = (day - _DAY_7D + 1) * DAY_S  # an attempt at or after this is in 7 days
        self.s24 = (ten - _TEN_24H + 1) * TEN_MINUTES_S
        self.s1h = (ten - _TEN_1H + 1) * TEN_MINUTES_S
        self.s10 = (minute - _MIN_10M + 1) * MINUTE_S
        self.n10 = self.d10 = self.n1h = self.d1h = self.n24 = self.a24 = self.m24 = 0
        self.pairs: dict[int, list[int]] = {}  # merchant: [attempts in 24 hours, in 7 days]
        for e in log:
            self.count(e, 1)

    def count(self, e: Event, sign: int) -> None:
        """An attempt added to the log (1) or dropped from it (-1)."""
        at = e.at_s
        if at < self.s7:
            return
        pair = self.pairs.get(e.merchant_id)
        if pair is None:
            pair = self.pairs[e.merchant_id] = [0, 0]
        pair[1] += sign
        if at < self.s24:
            return
        pair[0] += sign
        if pair[0] == (1 if sign > 0 else 0):  # the merchant joins or leaves the 24 hours
            self.m24 += sign
        self.n24 += sign
        self.a24 += sign * e.amount_minor
        if at < self.s1h:
            return
        self.n1h += sign
        declined = e.response_code not in _NOT_DECLINED
        if declined:
            self.d1h += sign
        if at >= self.s10:
            self.n10 += sign
            if declined:
                self.d10 += sign

    def declined(self, e: Event) -> None:
        """An attempt counted in flight was declined."""
        if e.at_s >= self.s1h:
            self.d1h += 1
            if e.at_s >= self.s10:
                self.d10 += 1


# What ``compute`` does for a set of names: the groups to work out (_WANT_* bits), and
# the function that makes the dict of these names from all the values (None: all names).
_Plan = tuple[int, "Callable[[tuple[int | Decimal, ...]], dict[str, int | Decimal | bool]] | None"]

# What an attempt in flight needs for its answer: its merchant, terminal, pair and card
# log (so that the answer needs no look-up; an answer to keys evicted meanwhile is lost).
# ... and the attempt itself.
_Pending = tuple[_Merchant, "_Terminal | None", "list[int] | None", "list[Event] | None", Event]


class FeatureStore:
    """Windowed counts per card, card and merchant pair, terminal and merchant.

    A card is its last attempts themselves (``Event`` objects, oldest first); a pair is
    ``[day of the last attempt, (day, approved amount)*]``; terminals and merchants keep
    bucket series (see ``_put``). ``add`` and ``compute`` are long on purpose: one frame
    per call, with the usual case of each series written out, keeps them near their CPU
    budget on CPython 3.11 (bench/risk_features.py); helpers do the rare cases.
    """

    def __init__(self, caps: Caps | None = None) -> None:
        self.caps = caps = caps or Caps()
        self._cards: OrderedDict[str, list[Event]] = OrderedDict()
        self._pairs: OrderedDict[tuple[str, int], list[int]] = OrderedDict()
        self._terminals: OrderedDict[int, _Terminal] = OrderedDict()
        self._merchants: OrderedDict[int, _Merchant] = OrderedDict()
        self._in_flight: OrderedDict[str, _Pending] = OrderedDict()  # by rrn, oldest first
        self._memos: dict[str, _CardMemo] = {}  # busy cards' counts of their latest minute
        self._terminal_cards = 0  # cards tracked by all terminals together
        self._card_events = 0  # attempts kept by all cards together
        self._plans: dict[frozenset[str], _Plan] = {}
        if not _SHARE:
            _SHARE.extend(Decimal(q).scaleb(-4) for q in range(10_001))

    # -- adding ------------------------------------------------------------------------

    def add(self, event: Event) -> None:  # noqa: PLR0912, PLR0915
        """Count a new attempt, and its outcome too when it already has its answer."""
        e = event
        at = e.at_s
        amount = e.amount_minor
        if not 0 <= e.hour <= 23 or amount < 0:
            _check(e.hour, amount)
        caps = self.caps
        ten = at // TEN_MINUTES_S
        day = at // DAY_S

        mid = e.merchant_id
        merchants = self._merchants
        ms = merchants.get(mid)
        if ms is None:
            ms = merchants[mid] = _Merchant()
            if len(merchants) > caps.merchants:
                merchants.popitem(last=False)
        else:
            merchants.move_to_end(mid)
        s = ms.t
        last = s[-3]
        if last == ten:
            s[-2] += 1
            s[-1] += amount
            s[1] += 1
            s[2] += amount
        elif last < ten and (len(s) == 3 or s[3] > ten - _TEN_24H):
            s += (ten, 1, amount)
            s[1] += 1
            s[2] += amount
        elif last <= ten - _TEN_24H:
            s[:] = (-1, 1, amount, ten, 1, amount)
        else:
            _put(s, 3, 3, 2, ten, ten - _TEN_24H, 1, amount)

        tok = e.card
        log = p = None
        if tok is not None:
            cards = self._cards
            log = cards.get(tok)
            if log is None:
                log = cards[tok] = [e]
                if len(cards) > caps.cards:
                    self._drop_card(*cards.popitem(last=False))
            else:
                cards.move_to_end(tok)
                if log[-1].at_s <= at:
                    log.append(e)
                else:
                    _insert(log, e)
                memo = self._memos.get(tok) if self._memos else None
                if memo is not None:
                    memo.count(e, 1)
                if len(log) > caps.card_events or log[0].at_s // DAY_S <= day - _DAY_7D:
                    self._card_events -= _trim(log, day - _DAY_7D, caps.card_events, memo)
            self._card_events += 1
            if self._card_events > caps.card_events_total:
                self._shed_cards()
            pairs = self._pairs
            key = (tok, mid)
            p = pairs.get(key)
            if p is None:
                p = pairs[key] = [day]
                if len(pairs) > caps.pairs:
                    self._drop_pair(*pairs.popitem(last=False))
                tracked = False
            else:
                pairs.move_to_end(key)
                tracked = ms.cards.get(tok) is p
            if tracked:
                last = p[0]
                if last < day:  # the card moves to today in the merchant's histogram
                    p[0] = day
                    _bump(ms.h7, 2, 1, last, -1)
                    _count(ms.h7, day, day - _DAY_7D)
            elif len(ms.cards) < caps.merchant_cards:
                ms.cards[tok] = p
                p[0] = last = max(p[0], day)
                h = ms.h7
                if h and h[-2] == last:
                    h[-1] += 1
                else:
                    _count(h, last, day - _DAY_7D)

        tid = e.terminal_id
        ts = None
        if tid is not None:
            minute = at // MINUTE_S
            terminals = self._terminals
            ts = terminals.get(tid)
            if ts is None:
                ts = terminals[tid] = _Terminal(minute)
                if len(terminals) > caps.terminals:
                    self._drop_terminal(terminals.popitem(last=False)[1])
            else:
                terminals.move_to_end(tid)
            if minute - ts.swept_at >= _SWEEP_MIN:
                self._sweep(ts, minute)
            fresh = fresh10 = 0  # 1: this card now counts as last seen in this minute / ten
            moved = -1  # the minute it was last seen before, if it moves from there
            if tok is not None:
                seen = ts.seen
                old = seen.get(tok)
                if old is None:
                    if len(seen) >= caps.terminal_cards:
                        self._sweep(ts, minute)
                    if len(seen) < caps.terminal_cards:  # else saturated: not tracked
                        seen[tok] = minute
                        fresh = fresh10 = 1
                        self._terminal_cards += 1
                        if self._terminal_cards > caps.terminal_cards_total:
                            self._shed_terminals()
                elif old < minute:
                    seen[tok] = minute
                    fresh = 1
                    moved = old
                    if old // _MIN_10M != ten:
                        fresh10 = 1
            small = 1 if amount <= SMALL_MAX_MINOR else 0
            cut = minute - _MIN_10M
            s = ts.m
            if s and s[-5] == minute:
                s[-4] += 1
                s[-2] += small
                s[-1] += fresh
                ts.ma += 1
                ts.ms += small
                ts.mc += fresh
            elif not s or s[-5] <= cut:
                s[:] = (minute, 1, 0, small, fresh)
                ts.ma, ts.md, ts.ms, ts.mc = 1, 0, small, fresh
            elif s[-5] < minute:
                s += (minute, 1, 0, small, fresh)
                if s[0] <= cut:
                    _purge(s, 0, 5, 0, cut)
                    _sum_m(ts)
                else:
                    ts.ma += 1
                    ts.ms += small
                    ts.mc += fresh
            else:
                _put(s, 0, 5, 0, minute, cut, 1, 0, small, fresh)
                _sum_m(ts)
            s = ts.t
            cut = ten - _TEN_1H
            if s and s[-3] == ten:
                s[-2] += 1
                s[-1] += fresh10
                ts.ta += 1
                ts.tc += fresh10
            elif not s or s[-3] <= cut:
                s[:] = (ten, 1, fresh10)
                ts.ta, ts.tc = 1, fresh10
            elif s[-3] < ten:
                s += (ten, 1, fresh10)
                if s[0] <= cut:
                    _purge(s, 0, 3, 0, cut)
                    _sum_t(ts)
                else:
                    ts.ta += 1
                    ts.tc += fresh10
            else:
                _put(s, 0, 3, 0, ten, cut, 1, fresh10)
                _sum_t(ts)
            if moved >= 0:
                if _bump(ts.m, 5, 4, moved, -1):
                    ts.mc -= 1
                if fresh10 and _bump(ts.t, 3, 2, moved // _MIN_10M, -1):
                    ts.tc -= 1
            r = ts.rr
            r.append(e)
            if len(r) > TERMINAL_RRNS:
                del r[0]
            if fresh and e.bin6 is not None and e.last4 is not None:
                bins = ts.bins
                entries = bins.get(e.bin6)
                if entries is None:
                    bins[e.bin6] = [e]
                    if not ts.run_best:
                        ts.run_best = 1
                else:
                    for j, x in enumerate(entries):
                        if x.card == tok:
                            entries[j] = e
                            break
                    else:
                        entries.append(e)
                    if len(entries) > ts.run_best and ts.run_at == minute:
                        # only a run with this card can beat the best of this minute
                        run = _run_around(entries, e.last4, minute - _MIN_10M, tok)
                        ts.run_best = max(ts.run_best, run + 1)

        if e.response_code is None:
            pending = self._in_flight
            pending[e.rrn] = (ms, ts, p, log, e)
            if len(pending) > caps.in_flight:
                pending.popitem(last=False)
        else:
            _outcome(e, ms, ts, p, e.response_code)

    def add_outcome(self, event: Event) -> bool:
        """Count the answer of an attempt added in flight; False (nothing counted) when
        that attempt is not waiting for its answer."""
        if event.response_code is None:
            raise InvalidInput(
                "risk.no_outcome",
                N_("The outcome of payment {rrn} has no response code"),
                rrn=event.rrn,
            )
        if not 0 <= event.hour <= 23 or event.amount_minor < 0:
            _check(event.hour, event.amount_minor)
        keys = self._in_flight.pop(event.rrn, None)
        if keys is None:
            return False
        self._answer(keys, event)
        return True

    def answer(self, rrn: str, response_code: str, amount_minor: int) -> Event | None:
        """``add_outcome`` from the answer alone: the attempt ``rrn`` added in flight was
        answered ``response_code`` for ``amount_minor``. Gives that attempt (None: it is
        not waiting for its answer, and nothing is counted). An approval of the amount
        attempted, the usual answer, makes no new event."""
        if amount_minor < 0:
            _check(0, amount_minor)
        keys = self._in_flight.pop(rrn, None)
        if keys is None:
            return None
        e = keys[4]
        if response_code == _APPROVED and amount_minor == e.amount_minor:
            _outcome(e, keys[0], keys[1], keys[2], _APPROVED)  # reads nothing else of e
        else:
            answered = Event(e.at_s, e.hour, rrn, e.merchant_id, e.terminal_id, e.card,
                             e.bin6, e.last4, amount_minor, e.credit, response_code)  # fmt: skip
            self._answer(keys, answered)
        return e

    def _answer(self, keys: _Pending, event: Event) -> None:
        ms, ts, p, log, _attempt = keys
        if log is not None and event.response_code != _APPROVED and _replace(log, event):
            # the card's declines read it (and its memo, unless the card is a new one)
            tok = event.card
            memo = self._memos.get(tok) if self._memos and tok is not None else None
            if memo is not None and tok is not None and self._cards.get(tok) is log:
                memo.declined(event)
        if ts is not None and event.response_code != _APPROVED:
            _replace(ts.rr, event)
        _outcome(event, ms, ts, p, event.response_code)

    # -- eviction ----------------------------------------------------------------------

    def _drop_pair(self, key: tuple[str, int], p: list[int]) -> None:
        tok, mid = key
        ms = self._merchants.get(mid)
        if ms is None or ms.cards.get(tok) is not p:
            return
        del ms.cards[tok]
        _bump(ms.h7, 2, 1, p[0], -1)
        # A card in the top 3 keeps its place there until the day's new top 3.

    def _drop_card(self, tok: str, log: list[Event]) -> None:
        self._card_events -= len(log)
        if self._memos:
            self._memos.pop(tok, None)

    def _shed_cards(self) -> None:
        """Evict the least recently seen cards until all of them together keep no more
        attempts than ``Caps.card_events_total`` (the newest one always stays)."""
        cards = self._cards
        while self._card_events > self.caps.card_events_total and len(cards) > 1:
            self._drop_card(*cards.popitem(last=False))

    def _drop_terminal(self, ts: _Terminal) -> None:
        self._terminal_cards -= len(ts.seen)

    def _shed_terminals(self) -> None:
        """Evict the least recently seen terminals until all of them together track no
        more cards than ``Caps.terminal_cards_total`` (the newest one always stays)."""
        terminals = self._terminals
        while self._terminal_cards > self.caps.terminal_cards_total and len(terminals) > 1:
            self._drop_terminal(terminals.popitem(last=False)[1])

    def _sweep(self, ts: _Terminal, minute: int) -> None:
        """Forget the cards a terminal last saw more than an hour ago, and those of its BIN
        runs more than 10 minutes ago."""
        cut_ten = minute // _MIN_10M - _TEN_1H
        seen = ts.seen
        old = [tok for tok, m in seen.items() if m // _MIN_10M <= cut_ten]
        for tok in old:
            del seen[tok]
        self._terminal_cards -= len(old)
        cut = minute - _MIN_10M
        bins = ts.bins
        for bin6 in list(bins):
            kept = [x for x in bins[bin6] if x.at_s // MINUTE_S > cut]
            if kept:
                bins[bin6] = kept
            else:
                del bins[bin6]
        ts.swept_at = minute

    # -- computing ---------------------------------------------------------------------

    def _plan(self, names: frozenset[str]) -> _Plan:
        unknown = names - FEATURES
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        want = (
            (_WANT_CARD if names & _CARD else 0)
            | (_WANT_TERMINAL if names & _TERMINAL else 0)
            | (_WANT_RUN if "terminal.bin_run_10m" in names else 0)
            | (_WANT_MERCHANT if names & _MERCHANT else 0)
            | (_WANT_TOP if "merchant.top3_share_7d" in names else 0)
        )
        if len(self._plans) >= PLANS_MAX:
            self._plans.clear()
        plan = self._plans[names] = (want, None if names == FEATURES else _picker(names))
        return plan

    def compute(  # noqa: PLR0912, PLR0915
        self,
        names: frozenset[str],
        *,
        now_s: int,
        hour: int,
        merchant_id: int,
        terminal_id: int | None,
        card: str | None,
        bin6: str | None,
        last4: int | None,
        amount_minor: int,
    ) -> dict[str, int | Decimal | bool]:
        """The features ``names`` for the attempt about to be decided (not included);
        KeyError names the unknown ones."""
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plan(names)
        if not 0 <= hour <= 23:
            _check(hour, amount_minor)
        want, pick = plan
        minute = now_s // MINUTE_S
        ten = now_s // TEN_MINUTES_S
        day = now_s // DAY_S
        n10 = d10 = n1h = d1h = n24 = a24 = p24 = p7 = merchants_24h = 0
        t10 = td10 = ts10 = tc10 = t1h = tc1h = run = 0
        m1h = m24 = ma24 = approved_7d = sales = avg = distinct_7d = 0
        hour_share = top3 = _ZERO_SHARE

        if want & _WANT_CARD and card is not None:
            log = self._cards.get(card)
            memo = None
            if log is not None and len(log) >= self.caps.card_memo:
                memo = self._memos.get(card)
                if memo is None or memo.minute != minute:
                    memo = self._memos[card] = _CardMemo(minute, log)
                n10, d10, n1h, d1h = memo.n10, memo.d10, memo.n1h, memo.d1h
                n24, a24, merchants_24h = memo.n24, memo.a24, memo.m24
                pair = memo.pairs.get(merchant_id)
                if pair is not None:
                    p24, p7 = pair
            elif log is not None:
                # Newest first; each window nests in the next (an attempt in the last 10
                # minutes is in the last hour, and so on). An attempt is in a window when
                # its bucket is after that of now - W: when it is at or after ``since``.
                since_7d = (day - _DAY_7D + 1) * DAY_S
                since_24h = (ten - _TEN_24H + 1) * TEN_MINUTES_S
                since_1h = (ten - _TEN_1H + 1) * TEN_MINUTES_S
                since_10m = (minute - _MIN_10M + 1) * MINUTE_S
                first = -1  # the first merchant met, then a set when there are more
                others: set[int] | None = None
                for e in reversed(log):
                    at = e.at_s
                    if at < since_7d:
                        break
                    mid = e.merchant_id
                    if mid == merchant_id:
                        p7 += 1
                        if at >= since_24h:
                            p24 += 1
                    if at < since_24h:
                        continue
                    n24 += 1
                    a24 += e.amount_minor
                    if mid != first:
                        if first == -1:
                            first = mid
                        else:
                            if others is None:
                                others = {first}
                            others.add(mid)
                    if at < since_1h:
                        continue
                    n1h += 1
                    if at >= since_10m:
                        n10 += 1
                        if e.response_code not in _NOT_DECLINED:
                            d1h += 1
                            d10 += 1
                    elif e.response_code not in _NOT_DECLINED:
                        d1h += 1
                merchants_24h = len(others) if others is not None else (0 if first == -1 else 1)

        if want & (_WANT_TERMINAL | _WANT_RUN) and terminal_id is not None:
            ts = self._terminals.get(terminal_id)
            if ts is not None:
                if want & _WANT_TERMINAL:
                    cut = minute - _MIN_10M
                    s = ts.m
                    if not s or s[0] > cut:  # no entry has left the window: its sums
                        t10, td10, ts10, tc10 = ts.ma, ts.md, ts.ms, ts.mc
                    else:
                        i = len(s) - 5
                        while i >= 0 and s[i] > cut:
                            t10 += s[i + 1]
                            td10 += s[i + 2]
                            ts10 += s[i + 3]
                            tc10 += s[i + 4]
                            i -= 5
                    cut = ten - _TEN_1H
                    s = ts.t
                    if not s or s[0] > cut:
                        t1h, tc1h = ts.ta, ts.tc
                    else:
                        i = len(s) - 3
                        while i >= 0 and s[i] > cut:
                            t1h += s[i + 1]
                            tc1h += s[i + 2]
                            i -= 3
                if want & _WANT_RUN:
                    run = _bin_run(ts, minute, card, bin6, last4)
            elif bin6 is not None and last4 is not None:
                run = 1
        elif bin6 is not None and last4 is not None and terminal_id is not None:
            run = 1

        if want & (_WANT_MERCHANT | _WANT_TOP):
            ms = self._merchants.get(merchant_id)
            if ms is not None:
                s = ms.d
                cut = day - _DAY_30D
                if len(s) > 3 and s[3] <= cut:
                    _purge_days(ms, cut)
                cut = day - _DAY_7D
                i = len(s) - 3
                while i >= 3 and s[i] > cut:
                    approved_7d += s[i + 2]
                    i -= 3
                sales = s[1]
                if sales:
                    avg = (2 * s[2] + sales) // (2 * sales)
                    hour_share = _SHARE[(ms.hours[hour] * 20_000 + sales) // (2 * sales)]
                s = ms.h7
                i = len(s) - 2
                while i >= 0 and s[i] > cut:
                    distinct_7d += s[i + 1]
                    i -= 2
                s = ms.t
                cut = ten - _TEN_24H
                if len(s) > 3 and s[3] <= cut:
                    _purge(s, 3, 3, 2, cut)
                m24 = s[1]
                ma24 = s[2]
                cut = ten - _TEN_1H
                i = len(s) - 3
                while i >= 3 and s[i] > cut:
                    m1h += s[i + 1]
                    i -= 3
                if want & _WANT_TOP and approved_7d:
                    if ms.top_day != day:
                        _rebuild_top(ms, day)
                    top = ms.top_total
                    # at most the whole: a merchant evicted and back has lost its old days
                    top3 = _SHARE[
                        (min(top, approved_7d) * 20_000 + approved_7d) // (2 * approved_7d)
                    ]

        if pick is not None:
            return pick(
                (
                    n10,
                    n1h,
                    n24,
                    a24,
                    d10,
                    d1h,
                    p24,
                    p7,
                    merchants_24h,
                    t10,
                    t1h,
                    tc10,
                    tc1h,
                    td10,
                    ts10,
                    run,
                    m1h,
                    m24,
                    ma24,
                    approved_7d,
                    distinct_7d,
                    top3,
                    hour_share,
                    sales,
                    avg,
                )
            )
        return {
            "card.count_10m": n10,
            "card.count_1h": n1h,
            "card.count_24h": n24,
            "card.amount_24h": a24,
            "card.declines_10m": d10,
            "card.declines_1h": d1h,
            "card.merchant_count_24h": p24,
            "card.merchant_count_7d": p7,
            "card.merchants_24h": merchants_24h,
            "terminal.count_10m": t10,
            "terminal.count_1h": t1h,
            "terminal.distinct_cards_10m": tc10,
            "terminal.distinct_cards_1h": tc1h,
            "terminal.declines_10m": td10,
            "terminal.small_10m": ts10,
            "terminal.bin_run_10m": run,
            "merchant.count_1h": m1h,
            "merchant.count_24h": m24,
            "merchant.amount_24h": ma24,
            "merchant.approved_7d": approved_7d,
            "merchant.distinct_cards_7d": distinct_7d,
            "merchant.top3_share_7d": top3,
            "merchant.hour_share_30d": hour_share,
            "merchant.sales_30d": sales,
            "merchant.avg_ticket_30d": avg,
        }

    def approved_30d(self, merchant_id: int, day: int) -> tuple[int, int]:
        """A merchant's approved sales over the 30 days to ``day``, and their amount."""
        ms = self._merchants.get(merchant_id)
        if ms is None:
            return 0, 0
        s = ms.d
        cut = day - _DAY_30D
        if len(s) > 3 and s[3] <= cut:
            _purge_days(ms, cut)
        return s[1], s[2]

    def linked(
        self,
        name: str,
        *,
        now_s: int,
        merchant_id: int,
        terminal_id: int | None,
        card: str | None,
        bin6: str | None = None,
        last4: int | None = None,
        hour: int = 0,
        amount_minor: int = 0,
    ) -> list[str]:
        """The rrns of (at most 20) recent attempts behind a count feature, newest first,
        for the evidence of a decision. Best effort: a card keeps its last attempts (up to
        ``Caps.card_events``), a terminal its last 10; merchant features link nothing."""
        if name not in FEATURES:
            raise KeyError(name)
        since = now_s - _WINDOW_S[name]
        if name.startswith("card."):
            events: list[Event] = self._cards.get(card, []) if card is not None else []
            if "merchant_count" in name:
                events = [e for e in events if e.merchant_id == merchant_id]
        elif name == "terminal.bin_run_10m":
            ts = self._terminals.get(terminal_id) if terminal_id is not None else None
            return [] if ts is None else _bin_run_rrns(ts, now_s // MINUTE_S, card, bin6, last4)
        elif name.startswith("terminal."):
            ts = self._terminals.get(terminal_id) if terminal_id is not None else None
            events = [] if ts is None else ts.rr
            if "small" in name:
                events = [e for e in events if e.amount_minor <= SMALL_MAX_MINOR]
        else:
            return []
        if "declines" in name:
            events = [e for e in events if _declined(e)]
        return [e.rrn for e in reversed(events) if e.at_s > since][:LINKED_MAX]

    def stats(self) -> dict[str, int]:
        """How many keys each map holds, for the memory test and for operations."""
        return {
            "cards": len(self._cards),
            "card_events": self._card_events,
            "pairs": len(self._pairs),
            "terminals": len(self._terminals),
            "merchants": len(self._merchants),
            "in_flight": len(self._in_flight),
            "terminal_cards": self._terminal_cards,
            "merchant_cards": sum(len(ms.cards) for ms in self._merchants.values()),
        }


_ORDER = (
    "card.count_10m",
    "card.count_1h",
    "card.count_24h",
    "card.amount_24h",
    "card.declines_10m",
    "card.declines_1h",
    "card.merchant_count_24h",
    "card.merchant_count_7d",
    "card.merchants_24h",
    "terminal.count_10m",
    "terminal.count_1h",
    "terminal.distinct_cards_10m",
    "terminal.distinct_cards_1h",
    "terminal.declines_10m",
    "terminal.small_10m",
    "terminal.bin_run_10m",
    "merchant.count_1h",
    "merchant.count_24h",
    "merchant.amount_24h",
    "merchant.approved_7d",
    "merchant.distinct_cards_7d",
    "merchant.top3_share_7d",
    "merchant.hour_share_30d",
    "merchant.sales_30d",
    "merchant.avg_ticket_30d",
)  # the order of the values ``compute`` hands to a picker
_WANT_CARD, _WANT_TERMINAL, _WANT_RUN, _WANT_MERCHANT, _WANT_TOP = 1, 2, 4, 8, 16
_ALL = len(FEATURES)
_ZERO_SHARE = _share(0, 0)
_NOT_DECLINED = (None, _APPROVED)
# 0.0000 .. 1.0000: a share is rounded half-up to 4 places, then read from here (made by
# the first FeatureStore: 20 ms that importing the module need not take)
_SHARE: list[Decimal] = []
_SWEEP_MIN = 30  # a terminal forgets old cards every 30 minutes (or when full)


def _outcome(  # noqa: PLR0912, PLR0915
    e: Event, ms: _Merchant, ts: _Terminal | None, p: list[int] | None, code: str | None
) -> None:
    """Count the outcome-type features of an attempt answered ``code`` (the card's
    declines are read from its log, where the answered event is)."""
    if code != _APPROVED:
        if ts is not None:
            minute = e.at_s // MINUTE_S
            s = ts.m
            if s and s[-5] == minute:
                s[-3] += 1
                ts.md += 1
            elif _put(s, 0, 5, 0, minute, minute - _MIN_10M, 0, 1, 0, 0):
                _sum_m(ts)
        return
    amount = e.amount_minor
    day = e.at_s // DAY_S
    s = ms.d
    if s[-3] == day:
        s[-2] += 1
        s[-1] += amount
        s[1] += 1
        s[2] += amount
    else:
        cut = day - _DAY_30D
        if len(s) > 3 and s[3] <= cut:
            _purge_days(ms, cut)
        if not _put(s, 3, 3, 2, day, cut, 1, amount):
            return
    prof = ms.prof.get(day)
    if prof is None:
        prof = ms.prof[day] = [0] * 24
    prof[e.hour] += 1
    ms.hours[e.hour] += 1
    if p is None:
        return
    if len(p) > 1 and p[-2] == day:
        p[-1] += amount
    elif len(p) == 1:
        p += (day, amount)
    else:
        cut = day - _DAY_7D
        j = 1
        while j < len(p) and p[j] <= cut:
            j += 2
        del p[1:j]
        _put(p, 1, 2, 0, day, cut, amount)
    tok = e.card
    if tok is None or ms.cards.get(tok) is not p:
        return
    if ms.top_day != day:
        ms.top_day = -1  # worked out again at the next compute
        return
    entry = (_approved(p, day - _DAY_7D), tok)
    top = ms.top
    for i, x in enumerate(top):
        if x[1] == tok:  # the card is in the top 3 already: its new total there
            top[i] = entry
            break
    else:
        if len(top) == 3 and entry < top[2]:
            return
        top.append(entry)
    top.sort(reverse=True)
    del top[3:]
    total = 0
    for x in top:
        total += x[0]
    ms.top_total = total


def _picker(
    names: frozenset[str],
) -> Callable[[tuple[int | Decimal, ...]], dict[str, int | Decimal | bool]]:
    """A function making the dict of ``names`` from the values of all features in
    ``_ORDER``: a dict display of constant keys, twice as fast as a comprehension."""
    if not names <= FEATURES:  # the names go into code: only ours, never a rule's text
        raise ValueError(f"not features: {sorted(names - FEATURES)}")
    items = ", ".join(f"{name!r}: v[{_ORDER.index(name)}]" for name in sorted(names))
    code: dict[str, Any] = {}
    exec(f"def pick(v):\n    return {{{items}}}\n", code)  # noqa: S102 (names checked above)
    pick: Callable[[tuple[int | Decimal, ...]], dict[str, int | Decimal | bool]] = code["pick"]
    return pick


def _check(hour: int, amount_minor: int) -> None:
    if not 0 <= hour <= 23:
        raise InvalidInput("risk.hour", N_("Hour of day {hour} is not 0 to 23"), hour=hour)
    if amount_minor < 0:
        raise InvalidInput(
            "risk.amount", N_("Amount {amount_minor} is negative"), amount_minor=amount_minor
        )


def _insert(log: list[Event], e: Event) -> None:
    """An older attempt goes in its place, so that a card's log stays in time order."""
    j = len(log)
    while j > 0 and log[j - 1].at_s > e.at_s:
        j -= 1
    log.insert(j, e)


def _trim(log: list[Event], cut_day: int, most: int, memo: _CardMemo | None) -> int:
    """Keep a card's last ``most`` attempts, and none of the days at or before
    ``cut_day`` (out of every window); the newest always stays. How many went (and
    out of the card's memo)."""
    drop = max(0, len(log) - most)
    while drop < len(log) - 1 and log[drop].at_s // DAY_S <= cut_day:
        drop += 1
    if memo is not None:
        for gone in log[:drop]:
            memo.count(gone, -1)
    del log[:drop]
    return drop


def _replace(events: list[Event], e: Event) -> bool:
    """Put the answered ``e`` in place of its attempt in flight (found by rrn); False
    when it is no longer there."""
    rrn = e.rrn
    for j in range(len(events) - 1, -1, -1):
        if events[j].rrn == rrn:
            events[j] = e
            return True
    return False


def _purge_days(ms: _Merchant, cut: int) -> None:
    """Drop a merchant's approved days at or before ``cut``, with their hour profiles."""
    s = ms.d
    prof = ms.prof
    hours = ms.hours
    i = 3
    n = len(s)
    while i < n and s[i] <= cut:
        s[1] -= s[i + 1]
        s[2] -= s[i + 2]
        counts = prof.pop(s[i], None)
        if counts is not None:
            for h, c in enumerate(counts):
                hours[h] -= c
        i += 3
    del s[3:i]


def _rebuild_top(ms: _Merchant, day: int) -> None:
    """Work out a merchant's 3 largest cards again (once a day, or after an eviction), and
    stop tracking its cards that have neither attempted nor been approved for 7 days."""
    cut = day - _DAY_7D
    totals: list[tuple[int, str]] = []
    stale: list[str] = []
    for tok, p in ms.cards.items():
        total = _approved(p, cut)
        if total:
            totals.append((total, tok))
        elif p[0] <= cut:
            stale.append(tok)
    for tok in stale:
        del ms.cards[tok]
    totals.sort(reverse=True)
    ms.top = top = totals[:3]
    ms.top_total = sum(x[0] for x in top)
    ms.top_day = day


def _live_last4(entries: list[Event], cut: int, card: str | None) -> list[int]:
    """The last four digits of a BIN's cards seen after minute ``cut``, ``card`` apart."""
    values = []
    for x in entries:
        v = x.last4
        if v is not None and x.at_s // MINUTE_S > cut and (x.card != card or card is None):
            values.append(v)
    return values


def _run_around(entries: list[Event], last4: int, cut: int, card: str | None) -> int:
    """The largest run of a BIN's cards (``card`` apart) that ``last4`` would join."""
    values = [
        v
        for x in entries
        if (v := x.last4) is not None
        and last4 - BIN_SPAN < v < last4 + BIN_SPAN
        and x.at_s // MINUTE_S > cut
        and (x.card != card or card is None)
    ]
    if not values:
        return 0
    values.append(last4)
    return _largest_run(values) - 1


def _bin_run(
    ts: _Terminal, minute: int, card: str | None, bin6: str | None, last4: int | None
) -> int:
    cut = minute - _MIN_10M
    if ts.run_at != minute:
        best = 0
        for entries in ts.bins.values():
            if len(entries) > best:
                best = max(best, _largest_run(_live_last4(entries, cut, None)))
        ts.run_best = best
        ts.run_at = minute
    best = ts.run_best
    if bin6 is None or last4 is None:
        return best
    mine = ts.bins.get(bin6)
    if not mine:
        return max(best, 1)
    if len(mine) == 1 and card is not None and mine[0].card == card:
        return max(best, 1)  # its BIN's only card: a run of its own
    if len(mine) + 1 <= best:
        return best
    return max(best, _run_around(mine, last4, cut, card) + 1)


def _bin_run_rrns(
    ts: _Terminal, minute: int, card: str | None, bin6: str | None, last4: int | None
) -> list[str]:
    """The rrns of the largest BIN run, newest first (the attempt being decided counts,
    as in ``compute``, but has no rrn yet)."""
    cut = minute - _MIN_10M
    best_size = 0
    best: list[tuple[int, str]] = []
    for b, entries in ts.bins.items():
        live = [
            (x.last4 or 0, x.at_s, x.rrn)
            for x in entries
            if x.at_s // MINUTE_S > cut and (x.card != card or card is None)
        ]
        if b == bin6 and last4 is not None:
            live.append((last4, 0, ""))
        live.sort()
        i = 0
        for j in range(len(live)):
            while live[j][0] - live[i][0] >= BIN_SPAN:
                i += 1
            if j - i + 1 > best_size:
                best_size = j - i + 1
                best = [(at, rrn) for _v, at, rrn in live[i : j + 1] if rrn]
    best.sort(reverse=True)
    return [rrn for _at, rrn in best][:LINKED_MAX]
