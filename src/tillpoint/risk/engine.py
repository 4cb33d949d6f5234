"""Screening in the authorisation path: the rules in force, compiled, run over features
kept in memory (docs/risk.md).

One ``Engine`` per process that takes payments (each host process, the API). It is the
payment path's ``Screener`` (payments/screening.py):

- ``catch_up`` runs in the sale's one read, before the decision. It folds into the
  features every payment recorded since its last call, by any process, so a limit holds
  whichever process each request reaches: this process's own as they were committed
  (handed over by the database after the commit: ``_recorded``), the others' from the
  payments table, read by id from where it stopped (one indexed range, usually a row or
  two) when the machine's counter of payment commits (core/signal.py) says another
  process wrote; before every decision when writers on other machines cannot raise it
  (``signalled`` off: ``TILLPOINT_LOCAL_WRITERS=false``). It reloads the rules when an
  operator changed them (a counter read at most once a second, with the terminals that
  reported a new place meanwhile: their distance from their shop, and their network).
- ``screen`` decides, on the CPU only: the features the rules in force read, then the
  rules of the merchant's kind in order; the attempt itself is counted at once (so two
  requests in flight in this process see each other), its outcome when it is recorded.
- What fired is kept with the payment (``risk_decisions``), live rules' alerts join the
  merchant's open case (``risk_alerts``, ``risk_cases``) in the payment's unit of work;
  holds and freezes follow (``Actions``, handed by the composition root).

Exact across processes for requests one after another; requests in flight at the same
moment in two processes do not see each other's attempt until it is recorded (at most
the network's answer time apart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection, String, bindparam, insert, select, type_coerce, update

from tillpoint.core.db import Database
from tillpoint.core.geo import Position, distance_m
from tillpoint.core.models import Counter
from tillpoint.core.network import network_of
from tillpoint.merchants.models import Merchant, MerchantKind, PaymentMethod, Shop
from tillpoint.payments.models import Channel, Payment, PaymentKind
from tillpoint.payments.screening import ALLOW, Attempt, Verdict, card_digits
from tillpoint.payments.writer import PAYMENTS_WRITTEN, PaymentRow
from tillpoint.risk.builtin import category_closed
from tillpoint.risk.expr import CompiledRule, ExprError, compile_rule, rule_set
from tillpoint.risk.features import FEATURES as STORE_FEATURES
from tillpoint.risk.features import Event, FeatureStore
from tillpoint.risk.models import (
    SEVERITY_RANK,
    STRENGTH,
    Action,
    CaseStatus,
    Mode,
    RiskAlert,
    RiskCase,
    RiskCaseEvent,
    RiskDecision,
    RiskExemption,
    RiskRule,
    Severity,
)
from tillpoint.terminals.models import Terminal

log = logging.getLogger("tillpoint.risk")

RULES_COUNTER = "risk_rules"  # bumped by every change of a rule or an exemption
RULES_RECHECK_S = 1.0
TAIL_LIMIT = 5_000  # rows folded per catch-up at most (the rest: next time)
WARM_DAYS = 30  # the longest window a feature looks back
WARM_LIMIT = 500_000  # payments read at start at most (the newest)
PLACES_MAX = 200_000  # terminals whose distance from their shop is kept
AWAY_M = 50_000  # a terminal this far from its shop counts its sales as away
NETWORKS_KEPT = 8  # networks remembered per terminal (the least recently used go)
NETWORK_KNOWN_DAYS = 3  # a network used on this many days is the terminal's own
PENDING_MAX = 20_000  # this process's payments folded in above the ids read, at most
MINE_MAX = 1_000  # commits of this process not folded in yet (none screens: read later)
GAP_GIVE_UP_S = 10.0  # an id not seen this long after a later one was never committed
GAPS_MAX = 10_000
LARGE_TICKET_X = 4  # a ticket this many times its peers' average is large for the category
LARGE_MIN_PEER_SALES = 20  # below this many peers' tickets, none counts as large
MIXES_MAX = 500_000  # merchants whose week of tickets is kept
_SCREENED = (PaymentKind.SALE, PaymentKind.PREAUTH)
_COUNTER_MAX = 0xFFFF_FFFF_FFFF_FFFF
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WALLETS = frozenset({PaymentMethod.ALIPAY, PaymentMethod.WECHAT, PaymentMethod.UNIONPAY_QR})
_UTC_TO_BUSINESS_S = 8 * 3600  # Asia/Shanghai keeps +08:00 all year

#: What the engine computes itself (the rest comes from ``FeatureStore``).
ENGINE_FEATURES: dict[str, str] = {
    "amount": "the payment's amount, minor units",
    "hour": "its business hour of day, 0-23",
    "credit": "paid by a credit card",
    "wallet": "paid by a wallet code",
    "api": "taken through the REST API",
    "personal": "the merchant is a personal (micro) merchant",
    "limit_per_txn": "the merchant kind's limit per payment, minor units",
    "limit_daily": "the merchant kind's daily limit, minor units",
    "category_closed": "an hour the merchant's category does not trade",
    "terminal.distance_km": "how far the terminal reports itself from its shop, km",
    "terminal.sales_away": "sales since the terminal is 50 km or more from its shop",
    "terminal.sales_new_network": "sales (this one included) since the terminal connects "
    "from a network it has not used on 3 days within 30 days; 0 from a known network",
    "peers.avg_ticket_30d": "the average approved ticket of its peers (same MCC and kind)",
    "peers.merchants": "merchants of the category with approved sales in 30 days",
    "merchant.large_share_7d": "per cent of its approved tickets over 7 days that were at "
    "least 4 times its peers' average ticket when made",
    "merchant.large_share_20": "the same over its latest 20 approved tickets",
}
FEATURES = frozenset(STORE_FEATURES) | frozenset(ENGINE_FEATURES)

# Kind and method as stored (their enums equal their text, and hash as it does): no
# conversion of each row read.
_TAIL = (
    select(
        Payment.id, Payment.rrn, type_coerce(Payment.kind, String), Payment.merchant_id,
        Payment.terminal_id, Payment.pan_token, Payment.pan_masked, Payment.amount_minor,
        Payment.response_code, type_coerce(Payment.method, String), Payment.created_at,
    )
    .where(Payment.id > bindparam("after"))
    .order_by(Payment.id)
    .limit(TAIL_LIMIT)
)  # fmt: skip
# The same without the time, for the tail read before each decision: what was recorded
# a moment ago happened now (converting the stored time costs more than the rest).
_HOT_TAIL = _TAIL.with_only_columns(*list(_TAIL.selected_columns)[:-1])
_COUNTER = select(Counter.value).where(Counter.name == RULES_COUNTER)
_PLACES = select(
    Terminal.id, Terminal.place_latitude_e6, Terminal.place_longitude_e6, Shop.latitude_e6,
    Shop.longitude_e6, Terminal.place_reported_at, Terminal.source_address,
).join(Shop, Shop.id == Terminal.shop_id)  # fmt: skip
_PLACE = _PLACES.where(Terminal.id == bindparam("terminal_id"))
_PLACES_SINCE = _PLACES.where(Terminal.place_reported_at > bindparam("since"))


class Actions(Protocol):
    """What a decision or a case does to the world, given by the composition root (the
    terminals' and settlement's own services, each audited there)."""

    def freeze(self, terminal_id: int, reason: str) -> None: ...
    def unfreeze(self, terminal_id: int, reason: str) -> None: ...
    def hold(self, merchant_id: int, reason: str) -> None: ...
    def release(self, merchant_id: int) -> None: ...
    def suspend(self, merchant_id: int, reason: str) -> None: ...
    def reinstate(self, merchant_id: int, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Live:
    """A rule in force, compiled with one merchant kind's parameters."""

    code: str
    version: int
    action: Action
    severity: Severity
    mode: Mode
    rule: CompiledRule
    mccs: frozenset[str] | None
    mids: frozenset[str] | None

    @property
    def per_terminal(self) -> bool:
        """It reads a terminal's own figures: its alerts are the terminal's."""
        return any(n.startswith("terminal.") for n in self.rule.names)


@dataclass(slots=True)
class Decision:
    """What fired on one attempt; ``case_id`` once its alerts are written."""

    attempt: Attempt
    hits: list[dict[str, Any]]
    action: Action | None  # the strongest live action; None: shadow rules only
    case_id: int | None = None
    severity: Severity = Severity.LOW
    live: list[Live] = field(default_factory=list)


_PEERS = frozenset({"peers.avg_ticket_30d", "peers.merchants"})
_PEERS_NEED = frozenset({"merchant.sales_30d", "merchant.avg_ticket_30d"})
# The engine's own features in groups, each worked out whole when a rule reads one of
# it (in ``Engine._values``, written out: a call per feature costs more than most).
_ATTEMPT = frozenset({"amount", "hour", "credit", "wallet", "api", "personal",
                      "limit_per_txn", "limit_daily"})  # fmt: skip
_CLOSED = frozenset({"category_closed"})
_TERMINAL_OWN = frozenset(
    {"terminal.distance_km", "terminal.sales_away", "terminal.sales_new_network"}
)
_MIX = frozenset({"merchant.large_share_7d", "merchant.large_share_20"})
_OWN_GROUPS = (_ATTEMPT, _CLOSED, _TERMINAL_OWN, _MIX, _PEERS)
_WANT_ATTEMPT, _WANT_CLOSED, _WANT_TERMINAL, _WANT_MIX, _WANT_PEERS = 1, 2, 4, 8, 16
#: What to compute for a set of feature names: the store's (with what the peers'
#: figures need), and the groups of the engine's own (_WANT_* bits).
_Plan = tuple[frozenset[str], int]


def _plan(names: frozenset[str]) -> _Plan:
    unknown = names - FEATURES
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    want = sum(1 << i for i, group in enumerate(_OWN_GROUPS) if names & group)
    store = names & STORE_FEATURES | (_PEERS_NEED if want & _WANT_PEERS else frozenset())
    return store, want


def peer_group(mcc: str, kind: MerchantKind) -> str:
    """A merchant's peers: the same category and kind (a street stall and a restaurant
    share 5812, not their tickets)."""
    group = _GROUPS.get((mcc, kind))
    if group is None:
        group = _GROUPS[(mcc, kind)] = f"{mcc}/{kind.value}"
    return group


_GROUPS: dict[tuple[str, MerchantKind], str] = {}  # a few hundred categories at most


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def business_hour(at: datetime) -> int:
    return int((at.timestamp() + _UTC_TO_BUSINESS_S) // 3600 % 24)


def _business_day(at_s: int) -> int:
    """The business day (Asia/Shanghai) of epoch second ``at_s``, as days since 1970."""
    return (at_s + _UTC_TO_BUSINESS_S) // 86_400


def business_day_start(at: datetime) -> datetime:
    """Midnight in Asia/Shanghai of the business day ``at`` falls in, in UTC."""
    day = _business_day(int(at.timestamp()))
    return datetime.fromtimestamp(day * 86_400 - _UTC_TO_BUSINESS_S, UTC)


def jsonable(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


class _Group:
    """One peer group's approved tickets over the last 30 days (day buckets), kept up as
    they come: its sum, count and merchants that sold are read without a loop."""

    __slots__ = ("active", "count", "day", "days", "sellers", "total")

    def __init__(self) -> None:
        self.days: dict[int, list[int]] = {}  # day: [sum, count]
        self.sellers: dict[int, int] = {}  # merchant: the last day it sold
        self.total = self.count = self.active = 0
        self.day = -1  # the day the figures are for

    def move_to(self, day: int) -> None:
        """Drop the days that left the window (once a day)."""
        if day <= self.day:
            return
        self.day = day
        for old in [d for d in self.days if d <= day - WARM_DAYS]:
            s, n = self.days.pop(old)
            self.total, self.count = self.total - s, self.count - n
        self.active = sum(1 for d in self.sellers.values() if d > day - WARM_DAYS)

    def add(self, merchant_id: int, day: int, amount_minor: int) -> None:
        if day > self.day:
            self.move_to(day)
        elif day <= self.day - WARM_DAYS:
            return  # older than the window
        bucket = self.days.get(day)
        if bucket is None:
            bucket = self.days[day] = [0, 0]
        bucket[0] += amount_minor
        bucket[1] += 1
        self.total += amount_minor
        self.count += 1
        sellers = self.sellers
        last = sellers.get(merchant_id)
        if last is None or last <= self.day - WARM_DAYS:
            self.active += 1  # new to the window
        if last is None or day > last:
            sellers[merchant_id] = day


class _Peers:
    """Each peer group's approved tickets over 30 days, and which merchants sold: the
    peers a merchant's own tickets are held against."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    def add(self, group: str, merchant_id: int, day: int, amount_minor: int) -> None:
        self.group(group).add(merchant_id, day, amount_minor)

    def group(self, group: str) -> _Group:
        found = self._groups.get(group)
        if found is None:
            found = self._groups[group] = _Group()
        return found

    def of(self, group: str, day: int) -> tuple[int, int, int]:
        """(approved sum, approved count, merchants) of the group over 30 days."""
        g = self._groups.get(group)
        if g is None:
            return 0, 0, 0
        g.move_to(day)
        return g.total, g.count, g.active


class _Mix:
    """One merchant's approved tickets over the last 7 days (day slots in a ring): how
    many, and how many were large for its category when made. A few large tickets (a
    cash-out episode) leave the share low; selling what another trade sells raises it."""

    __slots__ = ("counts", "days", "large", "last", "recent", "recent_n", "tickets")

    WINDOW = 7
    RECENT = 20  # the latest tickets, whatever their days: a switch shows within days
    _RECENT_MASK = (1 << RECENT) - 1

    def __init__(self) -> None:
        self.days = [-1] * self.WINDOW  # the day each slot counts
        self.counts = [0] * (2 * self.WINDOW)  # per slot: tickets, large tickets
        self.last = -1  # the latest day added
        self.tickets = self.large = 0  # over the 7 days to ``last``: read without a loop
        self.recent = 0  # one bit per latest ticket, newest lowest: 1 if large
        self.recent_n = 0

    def add(self, day: int, large: bool) -> None:
        self.recent = (self.recent << 1 | large) & self._RECENT_MASK
        if self.recent_n < self.RECENT:
            self.recent_n += 1
        slot = day % self.WINDOW
        counts = self.counts
        if day == self.last:  # the usual case: another ticket of the latest day
            counts[2 * slot] += 1
            counts[2 * slot + 1] += large
            self.tickets += 1
            self.large += large
            return
        if self.days[slot] != day:
            if day < self.days[slot]:
                return  # older than the window
            self.days[slot] = day
            counts[2 * slot] = counts[2 * slot + 1] = 0
        counts[2 * slot] += 1
        counts[2 * slot + 1] += large
        self.last = max(self.last, day)
        self.tickets, self.large = self._sums(self.last)

    def _sums(self, day: int) -> tuple[int, int]:
        tickets = large = 0
        for slot, slot_day in enumerate(self.days):
            if day - self.WINDOW < slot_day <= day:
                tickets += self.counts[2 * slot]
                large += self.counts[2 * slot + 1]
        return tickets, large

    def share_pct(self, day: int) -> int:
        if day == self.last:
            tickets, large = self.tickets, self.large
            return large * 100 // tickets if tickets else 0
        tickets = large = 0
        for slot, slot_day in enumerate(self.days):
            if day - self.WINDOW < slot_day <= day:
                tickets += self.counts[2 * slot]
                large += self.counts[2 * slot + 1]
        return large * 100 // tickets if tickets else 0

    def recent_pct(self) -> int:
        return self.recent.bit_count() * 100 // self.recent_n if self.recent_n else 0


class _Networks:
    """The networks one terminal's connections came from, as this process saw them:
    each with the last business day a sale was screened from it and on how many days
    (up to ``NETWORK_KNOWN_DAYS``), and the sales screened from unusual networks since
    the terminal last sold from a known one."""

    __slots__ = ("current", "new_sales", "seen")

    def __init__(self) -> None:
        self.current: str | None = None  # the network of its latest address read
        self.seen: dict[str, list[int]] = {}  # network: [last day used, days used]
        self.new_sales = 0

    def connected(self, network: str | None, day: int) -> None:
        """The terminal's stored address is now in ``network``. The first network a
        terminal is seen in is its own (at start, or when it first connects)."""
        self.current = network
        if network is None or network in self.seen:
            return
        self.seen[network] = [day, NETWORK_KNOWN_DAYS] if not self.seen else [-1, 0]
        if len(self.seen) > NETWORKS_KEPT:  # the least recently used other one goes
            others = [n for n in self.seen if n != network]
            del self.seen[min(others, key=lambda n: self.seen[n][0])]

    def known(self, day: int) -> bool:
        used = None if self.current is None else self.seen.get(self.current)
        return (
            used is None  # no address to judge by
            or (used[1] >= NETWORK_KNOWN_DAYS and used[0] > day - WARM_DAYS)
        )

    def value(self, day: int) -> int:
        return 0 if self.known(day) else self.new_sales + 1

    def sold(self, day: int) -> None:
        """A sale screened from the current network on business day ``day``."""
        used = None if self.current is None else self.seen.get(self.current)
        if used is not None and used[0] != day:
            if used[0] <= day - WARM_DAYS:
                used[1] = 0  # not used for 30 days: new again
            used[0], used[1] = day, min(used[1] + 1, NETWORK_KNOWN_DAYS)
        self.new_sales = 0 if self.known(day) else self.new_sales + 1


class Engine:
    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        actions: Actions | None = None,
        store: FeatureStore | None = None,
        *,
        signalled: bool = True,
        listen: bool = True,
    ) -> None:
        self.db = db
        self.now = now
        self.actions = actions
        self.store = store or FeatureStore()
        # The host calls from its event loop's thread; the API from its worker threads.
        self._lock = threading.Lock()
        self._plans: dict[MerchantKind, _Plan] = {}  # kinds with rules in force
        # per kind: the function running its rules (``rule_set``), and the rules
        self._rules: dict[MerchantKind, tuple[Callable[[Any], list[int]], tuple[Live, ...]]] = {}
        self._exempt: frozenset[tuple[int, str]] = frozenset()
        self._stamp: int | None = None
        self._checked_at = float("-inf")
        self._hi = 0  # the largest payment id folded in
        self._gaps: dict[int, float] = {}  # ids below _hi not seen yet: when noticed
        self._warm = False
        self._peer_group: dict[int, str] = {}  # merchant id: its peer group (MCC and kind)
        self._mid: dict[int, str | None] = {}  # merchant id: MID
        self._strangers: set[int] = set()  # merchants seen in payments, not yet looked up
        self._peers = _Peers()
        self._mixes: dict[int, _Mix] = {}  # merchant: its week of tickets
        self._places: dict[int, int | None] = {}  # terminal: metres from its shop
        self._places_since: datetime | None = None  # the latest place report read
        self._away: dict[int, int] = {}  # terminal: sales screened while away
        self._networks: dict[int, _Networks] = {}  # terminal: the networks it came from
        self._moved: set[str] = set()  # TIDs whose place or network this process wrote anew
        # This process's own payments come as they are committed (``_recorded``); the
        # payments table is read only when another process wrote (the machine's counter
        # of payment commits moved past what this process accounts for), or before every
        # decision when ``signalled`` is off (writers on other machines).
        self._signal = db.signal(PAYMENTS_WRITTEN) if signalled and listen else None
        self._seen: int | None = None  # the counter's value the tail was read after
        # committed here, not folded in yet: (the counter before the commit, its payments),
        # handed over without the engine's lock (a deque's append and popleft are atomic)
        self._mine: deque[tuple[int, list[PaymentRow]]] = deque()
        self._lost = False  # more were handed over than kept: read the table
        self._own: set[int] = set()  # ids of those folded in, above ``_hi``
        if listen:  # a backtest's engine reads history only
            db.listen(PAYMENTS_WRITTEN, self._recorded)

    # --- keeping up -------------------------------------------------------------------

    def catch_up(self, conn: Connection, terminal_id: int | None) -> None:
        with self._lock:
            self._catch_up(conn, terminal_id)

    def _catch_up(self, conn: Connection, terminal_id: int | None) -> None:
        if not self._warm:
            self.warm(conn)
        if self._strangers:
            self._meet(conn, self._strangers)
            self._strangers = set()
        mono = time.monotonic()
        if mono - self._checked_at >= RULES_RECHECK_S:
            self._checked_at = mono
            stamp = self.db.hot(_COUNTER).scalar(conn, {})
            if stamp != self._stamp:
                self.reload(conn, stamp)
            self._places_since = self._read_places(conn, self._places_since)
        if self._mine:
            self._fold_mine(conn)
        signal = self._signal
        stamp = None if signal is None else signal.value()
        if stamp is None or stamp != self._seen or self._lost:  # another process wrote
            self._lost = False
            rows = self.db.hot(_HOT_TAIL).rows(conn, {"after": self._hi})
            if rows and (new := {r[3] for r in rows if r[3] not in self._peer_group}):
                self._meet(conn, new)  # merchants approved since the start
            self._fold(rows, mono)
            self._seen = stamp
        if self._gaps:
            self._fold_gaps(conn, mono)
        if self._moved:
            moved, self._moved = sorted(self._moved)[:1000], set()
            for (moved_id,) in conn.execute(select(Terminal.id).where(Terminal.tid.in_(moved))):
                self._places.pop(moved_id, None)
        if terminal_id is not None and terminal_id not in self._places:
            self._read_places(conn, None, terminal_id)

    def _recorded(self, rows: list[PaymentRow], before: int) -> None:
        """This process committed ``rows`` (on the committing thread): they are folded
        in at the next catch-up without reading them back. ``before``: the counter before
        this commit; when it was the value the tail was last read after, no other process
        wrote in between."""
        if not self._warm:
            return  # warming up reads them
        mine = self._mine
        mine.append((before, rows))
        if len(mine) > MINE_MAX:  # nobody screens here: read them back when one does
            mine.clear()
            self._lost = True

    def _fold_mine(self, conn: Connection) -> None:
        mine = self._mine
        commits = []
        while mine:
            commits.append(mine.popleft())
        commits.sort(key=_first)  # as they were counted (threads may hand over out of order)
        rows = [r for _before, rs in commits for r in rs]
        if new := {r.merchant_id for r in rows if r.merchant_id not in self._peer_group}:
            self._meet(conn, new)
        if self._signal is not None:
            for before, _rows in commits:
                if before == self._seen:  # no other process wrote before this commit
                    self._seen = (before + 1) & _COUNTER_MAX
        own = self._own
        for r in rows:
            payment_id = r.id
            if payment_id <= self._hi:
                if self._gaps.pop(payment_id, None) is None:
                    continue  # read from the table already
            else:
                own.add(payment_id)
            self._apply(r.rrn, r.kind, r.merchant_id, r.terminal_id, r.pan_token, r.pan_masked,
                        r.amount_minor, r.response_code, r.method, r.created_at)  # fmt: skip
        hi = self._hi
        while hi + 1 in own:  # ids of this process's alone: nothing else to read there
            hi += 1
            own.discard(hi)
        self._hi = hi
        if len(own) > PENDING_MAX:  # ids between them never came: read the table
            self._seen = None

    def _read_places(
        self, conn: Connection, since: datetime | None, terminal_id: int | None = None
    ) -> datetime | None:
        """Each terminal's distance from its shop (None: unknown) and the network of its
        latest address: every bound terminal's (``since`` None: at start), those that
        reported a place after ``since`` (any process's writes, once a second), or one
        bound since the start or that this process saw move. Gives the latest report
        read.

        An address that changed alone (same place) is not read once a second: the
        process that screens a terminal's sale has written the sale's address itself
        first (terminals/places.py: a new network is news to each process) and heard
        of it through ``moved``."""
        rows: Sequence[tuple[int, int | None, int | None, int | None, int | None, Any, str | None]]
        if terminal_id is not None:  # one bound since the start
            self._places[terminal_id] = None  # unless it has a place and its shop a position
            rows = self.db.hot(_PLACE).rows(conn, {"terminal_id": terminal_id})
        elif since is None:
            rows = conn.execute(_PLACES).all()  # every bound terminal
        else:
            rows = self.db.hot(_PLACES_SINCE).rows(conn, {"since": since})
        latest = since
        today = _business_day(int(self.now().timestamp()))
        for found, lat, lon, shop_lat, shop_lon, reported, source in rows:
            networks = self._networks.get(found)
            if networks is None:
                networks = self._networks[found] = _Networks()
                if len(self._networks) > PLACES_MAX:  # the least recently met go first
                    del self._networks[next(iter(self._networks))]
            networks.connected(network_of(source), today)
            metres = None
            if (
                lat is not None
                and lon is not None
                and shop_lat is not None
                and shop_lon is not None
            ):
                metres = distance_m(Position(lat, lon), Position(shop_lat, shop_lon))
            self._places[found] = metres
            if reported is not None and (latest is None or reported > latest):
                latest = reported
        if len(self._places) > PLACES_MAX:  # the least recently read go first
            for old in list(self._places)[: len(self._places) - PLACES_MAX]:
                del self._places[old]
        return latest

    def moved(self, tid: str) -> None:
        """This process wrote a new place or network for terminal ``tid``: read its
        distance and its network again."""
        self._moved.add(tid)

    def warm(self, conn: Connection) -> None:
        """Rebuild the features from the payments of the last 30 days (the newest
        ``WARM_LIMIT``), as a process starts."""
        self._meet(conn, None)
        stamp = None if self._signal is None else self._signal.value()
        since = self.now() - timedelta(days=WARM_DAYS)
        newest = conn.execute(
            _TAIL.with_only_columns(*_TAIL.selected_columns)
            .where(Payment.created_at >= since)
            .order_by(None)
            .order_by(Payment.id.desc())
            .limit(WARM_LIMIT),
            {"after": 0},
        ).all()
        self._warm = True
        self._seen = stamp
        # none reported yet: the reads once a second start from the epoch, not again
        # from every bound terminal
        self._places_since = self._read_places(conn, None) or _EPOCH
        self._fold(reversed(newest), time.monotonic())
        if not newest:
            top = conn.execute(select(Payment.id).order_by(Payment.id.desc()).limit(1))
            self._hi = int(top.scalar() or 0)

    def _meet(self, conn: Connection, ids: set[int] | None) -> None:
        """The merchants' MCC and MID (all of them, or those ``ids``)."""
        query = select(Merchant.id, Merchant.mcc, Merchant.kind, Merchant.mid)
        if ids is not None:
            query = query.where(Merchant.id.in_(sorted(ids)[:1000]))
        for merchant_id, mcc, kind, mid in conn.execute(query):
            self._peer_group[merchant_id], self._mid[merchant_id] = peer_group(mcc, kind), mid

    def _fold(self, rows: Iterable[Any], mono: float) -> None:
        own = self._own
        for row in rows:
            payment_id = int(row[0])
            if payment_id > self._hi:
                for missing in range(self._hi + 1, min(payment_id, self._hi + GAPS_MAX)):
                    if self._warm and self._hi:
                        self._gaps[missing] = mono
                self._hi = payment_id
            elif self._gaps.pop(payment_id, None) is None:
                continue  # seen already
            if own and payment_id in own:
                own.discard(payment_id)  # folded in as this process committed it
                continue
            self._apply(*row[1:])
        if len(self._gaps) > GAPS_MAX:
            for old in sorted(self._gaps)[: len(self._gaps) - GAPS_MAX]:
                del self._gaps[old]

    def _fold_gaps(self, conn: Connection, mono: float) -> None:
        """Payments another process committed after a later id was seen (PostgreSQL
        takes ids from a sequence, and commits need not follow their order)."""
        for gone in [i for i, at in self._gaps.items() if mono - at > GAP_GIVE_UP_S]:
            del self._gaps[gone]
        if not self._gaps:
            return
        query = _TAIL.where(Payment.id.in_(list(self._gaps)[:1000]))
        self._fold(conn.execute(query, {"after": 0}).all(), mono)

    def _apply(
        self,
        rrn: str,
        kind: str,
        merchant_id: int,
        terminal_id: int | None,
        token: str | None,
        masked: str | None,
        amount: int,
        code: str,
        method: str | None,
        at: datetime | None = None,
    ) -> None:
        """Fold one recorded payment in (a row of ``_TAIL``, of ``_HOT_TAIL`` (no time:
        then it happened now, or when this process counted its attempt), or one this
        process committed)."""
        if kind not in _SCREENED:
            return
        # this process counted the attempt (the store keeps it in flight): its answer now
        event = self.store.answer(rrn, code, amount)
        if event is None:
            at_s = int((at or self.now()).timestamp())
            card = method not in _WALLETS and token is not None
            bin6, last4 = card_digits(masked) if card else (None, None)
            event = Event(
                at_s=at_s,
                hour=(at_s + _UTC_TO_BUSINESS_S) // 3600 % 24,
                rrn=rrn,
                merchant_id=merchant_id,
                terminal_id=terminal_id,
                card=token if card else None,
                bin6=bin6,
                last4=last4,
                amount_minor=amount,
                credit=method == PaymentMethod.CREDIT,
                response_code=code,
            )
            self.store.add(event)
        if code == "00":
            group = self._peer_group.get(merchant_id)
            if group is None:
                self._strangers.add(merchant_id)
            else:
                day = event.at_s // 86_400
                g = self._peers.group(group)
                if day > g.day:
                    g.move_to(day)
                # the peers: the group without the merchant's own (this ticket counted)
                own_count, own_sum = self.store.approved_30d(merchant_id, day)
                count = g.count - own_count + 1
                total = g.total - own_sum + amount
                large = count >= LARGE_MIN_PEER_SALES and amount * count >= LARGE_TICKET_X * (
                    total if total > 0 else 0
                )
                mix = self._mixes.get(merchant_id)
                (self._mix(merchant_id, day) if mix is None else mix).add(day, large)
                g.add(merchant_id, day, amount)

    def _mix(self, merchant_id: int, day: int) -> _Mix:
        mix = self._mixes.get(merchant_id)
        if mix is None:
            if len(self._mixes) >= MIXES_MAX:  # those quiet for a week go first
                quiet = [m for m, x in self._mixes.items() if x.last <= day - _Mix.WINDOW]
                for gone in quiet or list(self._mixes)[: MIXES_MAX // 10]:
                    del self._mixes[gone]
            mix = self._mixes[merchant_id] = _Mix()
        return mix

    # --- the rules in force -----------------------------------------------------------

    def reload(self, conn: Connection, stamp: int | None = None) -> None:
        """Compile the live and shadow rules for each merchant kind; a stored rule that
        no longer compiles (a feature renamed) is left out and logged, never run."""
        rules = conn.execute(
            select(RiskRule.code, RiskRule.version, RiskRule.expression, RiskRule.action,
                   RiskRule.severity, RiskRule.mode, RiskRule.params, RiskRule.scope)
            .where(RiskRule.mode.in_((Mode.LIVE, Mode.SHADOW)))
            .order_by(RiskRule.id)
        )  # fmt: skip
        compiled: dict[MerchantKind, list[Live]] = {k: [] for k in MerchantKind}
        for r in rules:
            scope = r.scope or {}
            kinds = scope.get("kinds") or [k.value for k in MerchantKind]
            for kind in MerchantKind:
                if kind.value not in kinds:
                    continue
                try:
                    rule = compile_rule(r.expression, features=FEATURES,
                                        params=params_for(r.params, kind))  # fmt: skip
                except ExprError as e:
                    log.error(json.dumps({"event": "risk_rule_skipped", "rule": r.code,
                                          "error": str(e)}))  # fmt: skip
                    continue
                mccs = scope.get("mccs") or None
                mids = scope.get("mids") or None
                compiled[kind].append(
                    Live(r.code, r.version, r.action, r.severity, r.mode, rule,
                         frozenset(mccs) if mccs else None,
                         frozenset(mids) if mids else None)
                )  # fmt: skip
        # Every feature is a number or a yes/no (the table in docs/risk.md), never a text:
        # the rule set may write their comparisons with numbers out.
        self._rules = {
            k: (rule_set([r.rule for r in v], FEATURES), tuple(v)) for k, v in compiled.items() if v
        }
        self._plans = {
            k: _plan(frozenset().union(*(r.rule.names for r in v)))
            for k, v in compiled.items()
            if v
        }
        now = self.now()
        self._exempt = frozenset(
            conn.execute(
                select(RiskExemption.merchant_id, RiskExemption.rule_code).where(
                    RiskExemption.until > now
                )
            ).all()
        )
        self._stamp = stamp

    def rules_changed(self) -> None:
        """Reload at the next catch-up (a change made in this process)."""
        self._checked_at = float("-inf")
        self._stamp = None

    # --- deciding ---------------------------------------------------------------------

    def features(self, a: Attempt, names: frozenset[str]) -> dict[str, Any]:
        """The values of ``names`` for the attempt (the store's, then the engine's own)."""
        now_s = int(a.at.timestamp())
        values = self._values(a, _plan(names), now_s, (now_s + _UTC_TO_BUSINESS_S) // 3600 % 24)
        return {name: values[name] for name in names}

    def _values(self, a: Attempt, plan: _Plan, now_s: int, hour: int) -> dict[str, Any]:
        """The features of ``plan`` (and others of their groups) for the attempt."""
        store_names, want = plan
        values: dict[str, Any] = (
            self.store.compute(
                store_names, now_s=now_s, hour=hour, merchant_id=a.merchant_id,
                terminal_id=a.terminal_id, card=a.card, bin6=a.bin6, last4=a.last4,
                amount_minor=a.amount_minor,
            )
            if store_names
            else {}
        )  # fmt: skip
        if want & _WANT_ATTEMPT:
            values["amount"] = a.amount_minor
            values["hour"] = hour
            values["credit"] = a.credit
            values["wallet"] = a.method in _WALLETS
            values["api"] = a.channel is Channel.API
            values["personal"] = a.merchant_kind is MerchantKind.PERSONAL
            limits = a.limits
            values["limit_per_txn"] = limits.per_txn_minor
            values["limit_daily"] = limits.daily_minor
        if want & _WANT_CLOSED:
            values["category_closed"] = category_closed(a.mcc, hour)
        if want & _WANT_TERMINAL:
            tid = a.terminal_id
            metres = networks = None
            if tid is not None:
                metres = self._places.get(tid)
                networks = self._networks.get(tid)
            values["terminal.distance_km"] = 0 if metres is None else metres // 1000
            values["terminal.sales_away"] = 0 if tid is None else self._away.get(tid, 0)
            values["terminal.sales_new_network"] = (
                0 if networks is None else networks.value(_business_day(now_s))
            )
        if want & _WANT_MIX:
            mix = self._mixes.get(a.merchant_id)
            if mix is None:
                values["merchant.large_share_7d"] = values["merchant.large_share_20"] = 0
            else:
                values["merchant.large_share_7d"] = mix.share_pct(now_s // 86_400)
                values["merchant.large_share_20"] = mix.recent_pct()
        if want & _WANT_PEERS:
            # The category's tickets without this merchant's own.
            total, count, sellers = self._peers.of(peer_group(a.mcc, a.merchant_kind),
                                                   now_s // 86_400)  # fmt: skip
            own_count = int(values["merchant.sales_30d"])
            rest = count - own_count
            rest_sum = total - own_count * int(values["merchant.avg_ticket_30d"])
            # 0: no peers' tickets to compare with
            values["peers.avg_ticket_30d"] = rest_sum // rest if rest > 0 and rest_sum > 0 else 0
            values["peers.merchants"] = max(0, sellers - (1 if own_count else 0))
        return values

    def _metres(self, terminal_id: int | None) -> int | None:
        return None if terminal_id is None else self._places.get(terminal_id)

    def screen(self, a: Attempt) -> Verdict:
        with self._lock:
            return self._screen(a)

    def _screen(self, a: Attempt) -> Verdict:
        kind = a.merchant_kind
        plan = self._plans.get(kind)
        hits: list[Live] | None = None
        values: dict[str, Any] = {}
        now_s = int(a.at.timestamp())
        hour = (now_s + _UTC_TO_BUSINESS_S) // 3600 % 24
        if plan is not None:
            values = self._values(a, plan, now_s, hour)
            run, rules = self._rules[kind]
            for i in run(values):  # the tests first: a rule seldom fires, scopes are rare
                r = rules[i]
                if (
                    (r.mccs is None or a.mcc in r.mccs)
                    and (r.mids is None or self._mid.get(a.merchant_id) in r.mids)
                    and (a.merchant_id, r.code) not in self._exempt
                ):
                    (hits := hits or []).append(r)
        verdict = ALLOW if hits is None else self._verdict(a, hits, values)
        self._count(a, now_s, hour)
        return verdict

    def _count(self, a: Attempt, now_s: int, hour: int) -> None:
        """The attempt counts at once; its outcome when its record is folded in."""
        rrn = a.rrn
        tid = a.terminal_id
        event = Event(now_s, hour, rrn, a.merchant_id, tid, a.card, a.bin6, a.last4,
                      a.amount_minor, a.credit, None)  # fmt: skip
        self.store.add(event)  # in flight there until its answer
        if tid is not None:
            metres = self._places.get(tid)
            if metres is not None and metres >= AWAY_M:
                self._away[tid] = self._away.get(tid, 0) + 1
            elif self._away:
                self._away.pop(tid, None)
            networks = self._networks.get(tid)
            if networks is not None:
                networks.sold((now_s + _UTC_TO_BUSINESS_S) // 86_400)

    def _verdict(self, a: Attempt, fired: list[Live], values: Mapping[str, Any]) -> Verdict:
        live = [r for r in fired if r.mode is Mode.LIVE]
        action = max((r.action for r in live), key=STRENGTH.__getitem__, default=None)
        hits = [self._hit(r, a, values) for r in fired]
        severity = max((r.severity for r in live), key=SEVERITY_RANK.__getitem__,
                       default=Severity.LOW)  # fmt: skip
        decision = Decision(a, hits, action, severity=severity, live=live)
        acts = action in (Action.HOLD, Action.FREEZE) and self.actions is not None
        return Verdict(
            decline=action in (Action.DECLINE, Action.FREEZE),
            keep=partial(self._keep, decision),
            act=partial(self._act, decision) if acts else None,
        )

    def _hit(self, r: Live, a: Attempt, values: Mapping[str, Any]) -> dict[str, Any]:
        evidence = {k: jsonable(v) for k, v in r.rule.explain(values).items()}
        linked: list[str] = []
        for name in sorted(r.rule.names):
            if name.startswith(("card.", "terminal.")) and name in STORE_FEATURES:
                linked += [x for x in self._linked(name, a) if x not in linked]
        return {
            "rule": r.code, "version": r.version, "action": r.action.value,
            "severity": r.severity.value, "mode": r.mode.value, "expression": r.rule.source,
            "evidence": evidence, "linked": linked[:20],
        }  # fmt: skip

    def _linked(self, name: str, a: Attempt) -> list[str]:
        try:
            return list(
                self.store.linked(
                    name, now_s=int(a.at.timestamp()), hour=business_hour(a.at),
                    merchant_id=a.merchant_id, terminal_id=a.terminal_id, card=a.card,
                    bin6=a.bin6, last4=a.last4, amount_minor=a.amount_minor,
                )
            )  # fmt: skip
        except KeyError:
            return []

    # --- what a decision leaves -------------------------------------------------------

    def _keep(self, decision: Decision, conn: Connection, payment_id: int | None) -> None:
        """In the payment's unit of work: the decision, and live rules' alerts in the
        merchant's open case (opened if none)."""
        a = decision.attempt
        at = a.at
        if payment_id is not None:
            conn.execute(
                insert(RiskDecision),
                {"payment_id": payment_id, "merchant_id": a.merchant_id,
                 "terminal_id": a.terminal_id,
                 "action": decision.action.value if decision.action else "allow",
                 "hits": decision.hits, "at": at},
            )  # fmt: skip
        if not decision.live:
            return
        case_id = open_case(conn, a.merchant_id, decision.severity, at)
        decision.case_id = case_id
        live_codes = {r.code for r in decision.live}
        # One alert per rule, case and business day (and terminal, for a rule that reads
        # the terminal's figures): a rule firing again counts on the alert it raised (how
        # often, and the latest payment), as an analyst reads it.
        per_terminal = {r.code for r in decision.live if r.per_terminal}
        raised: dict[str, tuple[int, dict[str, Any]]] = {}
        for code, terminal_id, alert_id, evidence in conn.execute(
            select(RiskAlert.rule_code, RiskAlert.terminal_id, RiskAlert.id, RiskAlert.evidence)
            .where(RiskAlert.case_id == case_id, RiskAlert.rule_code.in_(sorted(live_codes)),
                   RiskAlert.created_at >= business_day_start(at))
        ):  # fmt: skip
            if code not in per_terminal or terminal_id == a.terminal_id:
                raised[code] = (alert_id, evidence)
        latest = {"rrn": a.rrn, "payment_id": payment_id, "amount_minor": a.amount_minor,
                  "at": at.isoformat()}  # fmt: skip
        for alert_id, evidence in raised.values():
            again = {**evidence, "repeats": int(evidence.get("repeats", 1)) + 1, "latest": latest}
            conn.execute(update(RiskAlert).where(RiskAlert.id == alert_id).values(evidence=again))
        new = [h for h in decision.hits if h["rule"] in live_codes - raised.keys()]
        if not new:
            return
        conn.execute(
            insert(RiskAlert),
            [
                {"case_id": case_id, "rule_code": h["rule"], "rule_version": h["version"],
                 "severity": h["severity"], "action": h["action"], "merchant_id": a.merchant_id,
                 "terminal_id": a.terminal_id, "payment_id": payment_id,
                 "evidence": {"values": h["evidence"], "linked": h["linked"], "rrn": a.rrn,
                              "amount_minor": a.amount_minor, "repeats": 1},
                 "created_at": at}
                for h in new
            ],
        )  # fmt: skip
        codes = sorted(h["rule"] for h in new)
        data = {"rules": codes, "rrn": a.rrn, "payment_id": payment_id}
        note_case(conn, case_id, "alert", "risk", ", ".join(codes), data, at)

    async def _act(self, decision: Decision) -> None:
        await asyncio.to_thread(self.act, decision)

    def act(self, decision: Decision) -> None:
        """A hold or a freeze the decision calls for (already in force: nothing to do),
        noted in its case."""
        actions, a = self.actions, decision.attempt
        if actions is None or decision.case_id is None:
            return
        codes = ", ".join(sorted(r.code for r in decision.live))
        reason = f"risk case {decision.case_id}: {codes}"
        done: dict[str, Any] | None = None
        try:
            if decision.action is Action.FREEZE and a.terminal_id is not None:
                actions.freeze(a.terminal_id, reason)
                done = {"action": "freeze", "terminal_id": a.terminal_id}
            elif decision.action is Action.HOLD:
                actions.hold(a.merchant_id, reason)
                done = {"action": "hold", "merchant_id": a.merchant_id}
        except Exception as e:  # already frozen or held: the state stands
            what = {"event": "risk_action_not_taken", "case": decision.case_id,
                    "action": str(decision.action), "why": type(e).__name__}  # fmt: skip
            log.info(json.dumps(what))
            return
        if done is not None:
            with self.db.transaction() as s:
                note_case(s.connection(), decision.case_id, "action", "risk", reason, done,
                          self.now())  # fmt: skip


assert frozenset().union(*_OWN_GROUPS) == ENGINE_FEATURES.keys(), "every own feature is computed"
assert sum(len(g) for g in _OWN_GROUPS) == len(ENGINE_FEATURES), "each in one group"


def params_for(params: Mapping[str, Any], kind: MerchantKind) -> dict[str, Any]:
    """A kind's parameters: the defaults, overridden by the kind's own."""
    return {**(params.get("default") or {}), **(params.get(kind.value) or {})}


def open_case(conn: Connection, merchant_id: int, severity: Severity, at: datetime) -> int:
    """The merchant's open case (its severity raised to ``severity``), or a new one."""
    found = conn.execute(
        select(RiskCase.id, RiskCase.severity).where(
            RiskCase.merchant_id == merchant_id, RiskCase.status == CaseStatus.OPEN
        )
    ).first()
    if found is None:
        case_id = int(
            conn.execute(
                insert(RiskCase).returning(RiskCase.id),
                {"merchant_id": merchant_id, "status": CaseStatus.OPEN, "severity": severity,
                 "opened_at": at, "updated_at": at},
            ).scalar_one()
        )  # fmt: skip
        note_case(conn, case_id, "opened", "risk", "", {}, at)
        return case_id
    case_id, was = int(found[0]), Severity(found[1])
    worst = max(was, severity, key=SEVERITY_RANK.__getitem__)
    conn.execute(
        update(RiskCase).where(RiskCase.id == case_id).values(severity=worst, updated_at=at)
    )
    return case_id


def note_case(
    conn: Connection,
    case_id: int,
    kind: str,
    actor: str,
    detail: str,
    data: Mapping[str, Any],
    at: datetime,
) -> None:
    conn.execute(
        insert(RiskCaseEvent),
        {"case_id": case_id, "kind": kind, "actor": actor, "detail": detail[:2000],
         "data": dict(data), "at": at},
    )  # fmt: skip
