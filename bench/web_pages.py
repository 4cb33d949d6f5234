"""The console's and the merchant portal's pages against a big database: how long each takes to answer.

    python -m bench.web_pages [--merchants 1000] [--payments 1000000] [--requests 50]
                              [--db PATH]

Seeds an SQLite database (demo mode) with ``--merchants`` approved merchants, each with
its shop and one terminal, and ``--payments`` payments over the last 30 business days
(the open one included, up to the current hour), each with its events, as the terminal
host writes them (docs/performance.md says what): bulk inserts through SQLAlchemy Core.
The ledger is not seeded (no page here needs it). Then the payment tallies' pass runs
as ``tillpoint serve`` runs it (payments/tallies.py), to the end. ``--db PATH`` seeds
PATH once and reuses it on later runs.

Then it starts the HTTP app in this process (Starlette's TestClient), signs in as the
demo admin, and requests each page of ``PAGES`` ``--requests`` times (after one warm-up
request), printing per page: p50 and p95 of the wall time, CPU time per request (all
threads of this process: the machine's speed, not its load) and SQL statements per
request (the same on any machine). Also the direct count the tallies save a page (one
day's payments, counted from the payments table), for comparison.

Add a page to ``PAGES``: one line, its name and address; ``{mid}``, ``{tid}``,
``{date}`` (yesterday's business date) and ``{day}`` (today's) are filled in. The
merchant portal's pages (``PORTAL_PAGES``) are requested the same way, signed in as
demo merchant 1's owner; that merchant takes a tenth of the payments (about 100,000 of a
million), so its pages read a big merchant's data.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select, update

from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint, open_app
from tillpoint.clearing.models import BusinessDay, Settlement, SettlementStatus
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.models import SystemState
from tillpoint.core.settings import Settings
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner, ensure_demo
from tillpoint.merchants.models import Merchant, MerchantKind, PaymentMethod
from tillpoint.merchants.services import Application
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Channel, Payment, PaymentEvent, PaymentKind, PaymentStatus
from tillpoint.payments.tallies import POSITION_KEY, TAIL_LIMIT
from tillpoint.terminals import services as terminal_services
from tillpoint.terminals.models import Terminal

# name, address: one line per page. (After them the bench measures the home once more
# with the tallies' pass 1,000 and 2,000 events behind.) The commented ones are being built; uncomment each
# when its page exists.
PAGES: list[tuple[str, str]] = [
    ("home", "/console"),
    ("password", "/console/password"),
    ("merchants", "/console/merchants"),
    ("merchant search by name", "/console/merchants?q=Bench Mart 999"),
    ("merchant search, no match", "/console/merchants?q=nobody by this name"),
    ("merchant", "/console/merchants/{mid}"),
    ("terminals", "/console/terminals"),
    ("terminal search by TID", "/console/terminals?q={tid}"),
    ("terminal", "/console/terminals/{tid}"),
    ("applications", "/console/applications"),
    ("approved applications", "/console/applications?state=approved"),
    ("days", "/console/days"),
    ("day", "/console/days/{date}"),
    ("holds", "/console/holds"),
    ("users", "/console/users"),
    ("api keys", "/console/api-keys"),
    ("audit", "/console/audit"),
    ("fee plans", "/console/fee-plans"),
]

# The merchant portal's pages, signed in as demo merchant 1's owner (a big merchant: it
# takes ``BIG_SHARE`` of the payments). ``{pid}`` is one of its payments, ``{date}``
# one of its settled days.
PORTAL_PAGES: list[tuple[str, str]] = [
    ("portal home", "/portal"),
    ("payments", "/portal/payments"),
    ("payments, a day", "/portal/payments?from={date}&to={date}"),
    ("payments, wechat", "/portal/payments?method=wechat"),
    ("payments, refunded", "/portal/payments?status=refunded"),
    ("payments, >400", "/portal/payments?min=400.00"),
    ("payments, by RRN", "/portal/payments?q={rrn}"),
    ("payment", "/portal/payments/{pid}"),
    ("export a day, csv", "/portal/payments/export.csv?from={date}&to={date}"),
    ("export a day, xlsx", "/portal/payments/export.xlsx?from={date}&to={date}"),
    ("settlements", "/portal/settlements"),
    ("statement", "/portal/settlements/{date}"),
    ("statement PDF", "/portal/settlements/{date}/statement.pdf"),
    ("shops", "/portal/shops"),
    ("terminal", "/portal/terminals/{own_tid}"),
    ("people", "/portal/people"),
    ("developers", "/portal/developers"),
    ("application", "/portal/application"),
]
BIG_SHARE = 0.1

DAYS = 30
CHUNK = 50_000
BENCH = "bench"
# Hour weights of a shop's day (Shanghai): quiet at night, lunch and evening peaks.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 10, 12, 9, 7, 7, 8, 10, 12, 11, 8, 5, 3, 2]
METHODS = [
    (PaymentMethod.WECHAT, 30), (PaymentMethod.ALIPAY, 30), (PaymentMethod.DEBIT, 15),
    (PaymentMethod.CREDIT, 10), (PaymentMethod.CONTACTLESS, 8), (PaymentMethod.UNIONPAY_QR, 5),
    (PaymentMethod.FOREIGN, 2),
]  # fmt: skip
CARDS = {PaymentMethod.DEBIT, PaymentMethod.CREDIT, PaymentMethod.CONTACTLESS,
         PaymentMethod.FOREIGN}  # fmt: skip


def credit_code(first17: str) -> str:
    """A unified social credit code with its check character (GB 32100-2015)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + alphabet[(31 - total % 31) % 31]


def seed_merchants(tp: Tillpoint, count: int) -> None:
    """The demo admin and merchant 1 (ensure_demo), then merchants 2..count, each
    applied, approved (its first shop comes with it), with a terminal bound and shipped."""
    ensure_demo(tp, 1)
    # One slow password hash for every terminal's supervisor, not one each (seed speed).
    made = terminal_services.hash_password("123456")
    terminal_services.hash_password = lambda _password: made  # type: ignore[assignment]
    for n in range(2, count + 1):
        name = f"Bench Merchant {n} Ltd"
        applied = tp.merchants.apply(
            Application(
                kind=MerchantKind.BUSINESS, legal_name=name, display_name=f"Bench Mart {n}",
                mcc="5411", region_code="3100", contact_name="Bench",
                contact_phone="021-61234567", contact_email=f"b{n}@example.com",
                bank_name="Bench Bank", bank_account_name=name,
                bank_account_no=f"1219{n:012d}", shop_address=f"{n} Bench Road",
                business_licence_no=credit_code(f"91310104MA{n:07d}"),
            ),
            BENCH,
        )  # fmt: skip
        mid = tp.merchants.approve(str(applied.id), BENCH).mid
        tid = tp.terminals.add(f"BENCH{n:06d}", "Bench POS", BENCH,
                               require_operator_password=False).terminal.tid  # fmt: skip
        tp.terminals.bind(tid, mid, BENCH)
        tp.terminals.ship(tid, BENCH, "bench")


def outcome(
    roll: float, before: list[dict[str, Any]]
) -> tuple[PaymentKind, PaymentStatus, list[PaymentStatus], dict[str, Any] | None]:
    """A payment's kind, first status, later moves, and the sale it refunds (if any)."""
    if roll < 0.04:
        return PaymentKind.SALE, PaymentStatus.DECLINED, [], None
    if roll < 0.05:
        return PaymentKind.SALE, PaymentStatus.TIMED_OUT, [], None
    if roll < 0.07:
        return PaymentKind.SALE, PaymentStatus.APPROVED, [PaymentStatus.VOIDED], None
    if roll < 0.08:
        return PaymentKind.PREAUTH, PaymentStatus.APPROVED, [], None
    if roll < 0.10 and before and before[-1]["status"] is PaymentStatus.APPROVED:
        return PaymentKind.REFUND, PaymentStatus.APPROVED, [], before[-1]
    return PaymentKind.SALE, PaymentStatus.APPROVED, [], None


def seed_payments(tp: Tillpoint, count: int, today: date, now: datetime) -> None:
    """``count`` payments over the 30 days up to ``today`` (today's up to ``now``'s
    hour), with their events: sales (90 % approved, 4 % declined, 1 % timed out, 2 %
    voided the same day), one approved refund in fifty (its sale partly refunded), one
    pre-authorisation in a hundred."""
    with tp.ctx.db.read() as s:
        places = [
            (m, shop, t)
            for m, shop, t in s.execute(
                select(Terminal.merchant_id, Terminal.shop_id, Terminal.id)
                .where(Terminal.merchant_id.is_not(None))
                .order_by(Terminal.merchant_id, Terminal.id)  # demo merchant 1's first
            )
        ]
    rnd = random.Random(20261204)
    methods, method_weights = zip(*METHODS, strict=True)
    payments, events = Payment.__table__, PaymentEvent.__table__
    hours_today = list(range(now.astimezone(BUSINESS_TZ).hour + 1))
    pid = 0
    event_id = 0
    with tp.ctx.db.read() as s:
        pid = int(s.scalar(select(func.max(Payment.id))) or 0)
        event_id = int(s.scalar(select(func.max(PaymentEvent.id))) or 0)
    for start in range(0, count, CHUNK):
        p_rows: list[dict[str, Any]] = []
        e_rows: list[dict[str, Any]] = []
        for i in range(start, min(count, start + CHUNK)):
            back = i % DAYS
            day = today - timedelta(days=back)
            hours = hours_today if back == 0 else range(24)
            hour = rnd.choices(list(hours), weights=[HOUR_WEIGHTS[h] for h in hours])[0]
            at = datetime(day.year, day.month, day.day, hour, rnd.randrange(60),
                          rnd.randrange(60), tzinfo=BUSINESS_TZ)  # fmt: skip
            place = places[0] if rnd.random() < BIG_SHARE else places[rnd.randrange(len(places))]
            merchant_id, shop_id, terminal_id = place
            method = rnd.choices(methods, weights=method_weights)[0]
            amount = rnd.randint(100, 50_000)
            kind, status, moves, refund_of = outcome(rnd.random(), p_rows)
            if refund_of is not None:
                amount = max(1, refund_of["amount_minor"] // 2)
            pid += 1
            row = {
                "id": pid, "kind": kind, "status": status, "response_code": "00",
                "merchant_id": merchant_id, "shop_id": shop_id, "terminal_id": terminal_id,
                "batch_id": None, "stan": f"{i % 999_999 + 1:06d}", "rrn": f"B{pid:011d}",
                "auth_code": "123456", "amount_minor": amount, "currency": "CNY",
                "method": method, "card_org": "CUP", "domestic": True,
                "pan_masked": "621700******0001" if method in CARDS else None,
                "pan_token": None, "entry_mode": "071", "business_date": day,
                "original_id": refund_of["id"] if refund_of else None, "refunded_minor": 0,
                "fee_minor": 0, "channel": Channel.TERMINAL, "created_at": at, "updated_at": at,
            }  # fmt: skip
            if status is not PaymentStatus.APPROVED:
                row["response_code"] = "05" if status is PaymentStatus.DECLINED else "98"
            event_id += 1
            e_rows.append({"id": event_id, "payment_id": pid, "from_status": None,
                           "to_status": status, "cause": BENCH, "at": at})  # fmt: skip
            for to in moves:
                event_id += 1
                e_rows.append({"id": event_id, "payment_id": pid, "from_status": row["status"],
                               "to_status": to, "cause": BENCH, "at": at})  # fmt: skip
                row["status"] = to
            if refund_of is not None:
                refund_of["refunded_minor"] = amount
                refund_of["status"] = PaymentStatus.PARTLY_REFUNDED
                event_id += 1
                e_rows.append({"id": event_id, "payment_id": refund_of["id"],
                               "from_status": PaymentStatus.APPROVED,
                               "to_status": PaymentStatus.PARTLY_REFUNDED, "cause": BENCH,
                               "at": at})  # fmt: skip
            p_rows.append(row)
        with tp.ctx.db.transaction(invalidate=False) as s:
            s.execute(insert(payments), p_rows)
            s.execute(insert(events), e_rows)
        print(f"  {min(count, start + CHUNK):,} payments", flush=True)


def seed_days(tp: Tillpoint, today: date) -> int:
    """The days before ``today`` closed and settled, as the day's end would leave them
    (for the days and holds pages): a settlement per merchant and day from its approved
    sales, a flat 0.38 % fee, paid the next day. The ledger is not seeded."""
    p = Payment
    with tp.ctx.db.read() as s:
        if s.scalar(select(func.count()).select_from(BusinessDay)):
            return 0
        sums = s.execute(
            select(p.merchant_id, p.business_date, func.count(), func.sum(p.amount_minor))
            .where(p.business_date < today, p.kind == PaymentKind.SALE,
                   p.status.in_((PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED)))
            .group_by(p.merchant_id, p.business_date)
        ).all()  # fmt: skip
    closing = {day: datetime(day.year, day.month, day.day, 23, tzinfo=BUSINESS_TZ)
               for _m, day, _n, _g in sums}  # fmt: skip
    settlements = []
    for merchant_id, day, count, gross in sums:
        fees = int(gross) * 38 // 10_000
        settlements.append({
            "merchant_id": merchant_id, "business_date": day, "currency": "CNY",
            "gross_minor": gross, "refunds_minor": 0, "fees_minor": fees, "data_fees_minor": 0,
            "net_minor": gross - fees, "carried_in_minor": 0, "payout_minor": gross - fees,
            "carried_out_minor": 0, "payout_date": day + timedelta(days=1),
            "status": SettlementStatus.PAID, "transactions": count,
            "created_at": closing[day] + timedelta(hours=2),
        })  # fmt: skip
    with tp.ctx.db.transaction(invalidate=False) as s:
        s.execute(insert(BusinessDay), [
            {"business_date": day, "closed_at": at, "closed_by": BENCH,
             "settled_at": at + timedelta(hours=2)} for day, at in sorted(closing.items())
        ])  # fmt: skip
        s.execute(insert(Settlement), settlements)
    return len(closing)


@contextmanager
def counted_statements(tp: Tillpoint) -> Iterator[list[int]]:
    box = [0]

    def count(*_args: object) -> None:
        box[0] += 1

    event.listen(tp.ctx.db.engine, "before_cursor_execute", count)
    try:
        yield box
    finally:
        event.remove(tp.ctx.db.engine, "before_cursor_execute", count)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sign_in(client: TestClient, site: str = "/console", login: str = DEMO_ADMIN) -> None:
    form = client.get(f"{site}/sign-in")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = client.post(f"{site}/sign-in", follow_redirects=False,
                       data={"csrf_token": token, "login": login, "password": DEMO_PASSWORD,
                             "next": site})  # fmt: skip
    assert done.status_code == 303, done.text


def one_page(tp: Tillpoint, client: TestClient, requests: int, name: str, url: str) -> None:
    assert client.get(url).status_code == 200, url  # warm-up
    walls: list[float] = []
    cpu0 = time.process_time()
    with counted_statements(tp) as statements:
        for _ in range(requests):
            w0 = time.perf_counter()
            r = client.get(url)
            walls.append((time.perf_counter() - w0) * 1000)
            assert r.status_code == 200, (url, r.status_code)
    cpu = (time.process_time() - cpu0) * 1000 / requests
    print(f"{name:<18} {url[:52]:<52} {statistics.median(walls):>8.1f} "
          f"{percentile(walls, 0.95):>8.1f} {cpu:>11.1f} "
          f"{statements[0] / requests:>8.1f}")  # fmt: skip


@contextmanager
def pass_behind(tp: Tillpoint, events: int) -> Iterator[None]:
    """The tallies' position ``events`` back for a while, as if the pass lagged: pages
    then read that many events themselves (the figures count them twice meanwhile: only
    the time is of interest), and the position is put back after."""
    at = tp.tallies.position()
    with tp.ctx.db.transaction() as s:
        s.execute(update(SystemState).where(SystemState.key == POSITION_KEY)
                  .values(value=str(max(0, at - events))))  # fmt: skip
    try:
        yield
    finally:
        with tp.ctx.db.transaction() as s:
            s.execute(update(SystemState).where(SystemState.key == POSITION_KEY)
                      .values(value=str(at)))  # fmt: skip


def measure(tp: Tillpoint, requests: int, fill: dict[str, Any]) -> None:
    """Each page of ``PAGES``, ``requests`` times, signed in as the demo admin."""
    acquirer = simulated(tp)
    try:
        with TestClient(create_api(tp, acquirer)) as client:
            sign_in(client)
            print(f"\n{'page':<18} {'address':<52} {'p50 ms':>8} {'p95 ms':>8} "
                  f"{'CPU ms/req':>11} {'SQL/req':>8}")  # fmt: skip
            for name, address in PAGES:
                one_page(tp, client, requests, name, address.format(**fill))
            with pass_behind(tp, 1000):  # a second of the host at its peak
                one_page(tp, client, requests, "home, 1k behind", "/console")
            with pass_behind(tp, TAIL_LIMIT):  # the most a page adds up itself
                one_page(tp, client, requests, "home, 2k behind", "/console")
        with TestClient(create_api(tp, acquirer)) as client:
            sign_in(client, "/portal", demo_owner(1))
            for name, address in PORTAL_PAGES:
                one_page(tp, client, requests, name, address.format(**fill))
    finally:
        acquirer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchants", type=int, default=1000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--db", type=Path, help="seed this file once, reuse it after")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "pages.db"
        fresh = not path.exists()
        settings = Settings(_env_file=None, database_url=f"sqlite:///{path}", demo=True,  # type: ignore[call-arg]
                            locale="en")  # fmt: skip
        tp = open_app(settings)
        try:
            today = tp.days.open_date()
            if fresh:
                t0 = time.perf_counter()
                seed_merchants(tp, args.merchants)
                t1 = time.perf_counter()
                print(f"seeded {args.merchants:,} merchants in {t1 - t0:.0f} s", flush=True)
                seed_payments(tp, args.payments, today, tp.ctx.now())
                print(f"seeded {args.payments:,} payments in {time.perf_counter() - t1:.0f} s")
            if closed := seed_days(tp, today):
                print(f"seeded {closed} business days, closed and settled", flush=True)
            t2, c2 = time.perf_counter(), time.process_time()
            folded = tp.tallies.catch_up(limit=CHUNK)
            if folded:
                wall, cpu = time.perf_counter() - t2, time.process_time() - c2
                print(f"tallies' pass: {folded:,} events in {wall:.1f} s "
                      f"({folded / wall:,.0f} events/s, {cpu * 1e6 / folded:.1f} µs CPU each)")  # fmt: skip
            with tp.ctx.db.read() as s:
                merchants = s.scalar(select(func.count()).select_from(Merchant))
                paid = s.scalar(select(func.count()).select_from(Payment))
                mid = s.scalar(select(Merchant.mid).where(Merchant.mid.is_not(None)).limit(1))
                tid = s.scalar(select(Terminal.tid).where(Terminal.merchant_id.is_not(None)))
            print(f"database: {merchants:,} merchants, {paid:,} payments ({path})")
            t3, c3 = time.perf_counter(), time.process_time()
            direct = tp.tallies.direct(today)
            print(f"for comparison, today's figures counted from the payments: "
                  f"{(time.perf_counter() - t3) * 1000:.0f} ms, "
                  f"{(time.process_time() - c3) * 1000:.0f} ms CPU "
                  f"({direct.count:,} approved payments)")  # fmt: skip
            with tp.ctx.db.read() as s:  # demo merchant 1's newest payment and terminal
                pid, rrn = s.execute(select(Payment.id, Payment.rrn)
                                     .where(Payment.merchant_id == 1)
                                     .order_by(Payment.id.desc()).limit(1)).one()  # fmt: skip
                own_tid = s.scalar(select(Terminal.tid).where(Terminal.merchant_id == 1))
                big = s.scalar(select(func.count()).where(Payment.merchant_id == 1))
            print(f"demo merchant 1 (the portal's): {big:,} payments")
            fill = {"mid": mid, "tid": tid, "date": (today - timedelta(days=1)).isoformat(),
                    "day": today.isoformat(), "pid": pid, "rrn": rrn,
                    "own_tid": own_tid}  # fmt: skip
            measure(tp, args.requests, fill)
        finally:
            tp.close()


if __name__ == "__main__":
    main()
