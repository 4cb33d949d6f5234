"""A member's cash checkout and the till's look-up of a member: what they cost next to
an anonymous checkout.

    python -m bench.members_checkout [--products 1000] [--members 10000] [--orders 300]
                                     [--lines 5] [--database-url URL]

Sets up the store checkout's bench (bench/store_checkout.py: the demo merchant, its
catalogue, an open shift), a loyalty programme (a level, member prices on a tenth of
the products) and ``--members`` members. Then, through the services: ``--orders`` cash
orders of ``--lines`` lines with no member; as many naming a member (member prices, the
level, points earned when paid); as many redeeming the most points they can and a
coupon; and as many look-ups of a member by mobile number (the keyed hash). Printed for
each: p50 and p95 of the wall time, CPU time per call (this process) and SQL statements
per call.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.store_checkout import cart, counting, report, seed
from sqlalchemy import insert, select

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid
from tillpoint.store.coupons import CouponValue
from tillpoint.store.loyalty import LevelIn, LoyaltyIn
from tillpoint.store.member_models import Channel, CouponKind, MemberPrice
from tillpoint.store.members import MemberIn
from tillpoint.store.models import Product
from tillpoint.store.till_members import TillMembers


def members(tp: Tillpoint, merchant_id: int, n: int) -> list[int]:
    tp.loyalty.update(merchant_id, LoyaltyIn(levels=(LevelIn("Gold", 0, Decimal(5)),)), "bench")
    with tp.ctx.db.transaction() as s:
        ids = list(s.scalars(select(Product.id).where(Product.merchant_id == merchant_id)))
        s.execute(insert(MemberPrice), [
            {"product_id": pid, "merchant_id": merchant_id, "price_minor": 90}
            for pid in ids[::10]
        ])  # fmt: skip
    return [
        tp.members.sign_up(merchant_id, MemberIn(f"139{k:08d}", consent_membership=True),
                           channel=Channel.TILL, by="bench").id
        for k in range(n)
    ]  # fmt: skip


def timed(tp: Tillpoint, name: str, calls: int, call: Callable[[int], Any]) -> None:
    walls: list[float] = []
    with counting(tp) as statements:
        cpu0 = time.process_time()
        for k in range(calls):
            t0 = time.perf_counter()
            call(k)
            walls.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu0
    report(name, walls, cpu, statements[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        settings = Settings(_env_file=None, database_url=url, demo=True, locale="en",  # type: ignore[call-arg]
                            network_dir=str(Path(tmp) / "network"))  # fmt: skip
        tp = open_app(settings)
        try:
            shift, codes, weighed = seed(tp, args.products)
            merchant_id = tp.merchants.get(demo_mid(1)).id
            t0 = time.perf_counter()
            ids = members(tp, merchant_id, args.members)
            signed = (time.perf_counter() - t0) * 1000 / max(args.members, 1)
            rng = random.Random(20261206)
            print(f"{args.products} products, {args.members} members ({signed:.1f} ms a "
                  f"sign-up), {args.orders} orders of {args.lines} lines, "
                  f"{tp.ctx.db.engine.dialect.name}, {datetime.now():%Y-%m-%d %H:%M}")  # noqa: DTZ005  # fmt: skip
            for _ in range(20):
                tp.orders.create(cart(rng, shift, codes, weighed, args.lines), merchant_id=None)

            def plain(_k: int) -> None:
                tp.orders.create(cart(rng, shift, codes, weighed, args.lines), merchant_id=None)

            def member(k: int) -> None:
                new = replace(cart(rng, shift, codes, weighed, args.lines), member_id=ids[k])
                assert tp.orders.create(new, merchant_id=None).order.status == "paid"

            ten = CouponValue("10 off", CouponKind.AMOUNT, 1000)
            coupons = [
                tp.coupons.issue(merchant_id, value=ten, member_id=ids[k], by="bench")[0].code
                for k in range(args.orders)
            ]

            def redeeming(k: int) -> None:
                new = replace(cart(rng, shift, codes, weighed, args.lines), member_id=ids[k],
                              redeem_points="max", coupon_codes=(coupons[k],))  # fmt: skip
                tp.orders.create(new, merchant_id=None)

            def quoting(k: int) -> None:  # the till's quote of the same cart: no write
                new = replace(cart(rng, shift, codes, weighed, args.lines), member_id=ids[k],
                              redeem_points="max", coupon_codes=(coupons[k],))  # fmt: skip
                tp.orders.quote(new, merchant_id=None)

            snapshots = TillMembers(tp.ctx)

            def snapshot(_k: int) -> None:  # every member, 5,000 a page, as a till takes it
                after: int | None = 0
                while after is not None:
                    after = snapshots.snapshot(merchant_id, 1, after_id=after).next_after_id

            def lookup(k: int) -> None:
                tp.members.lookup(merchant_id, f"139{k * 7 % args.members:08d}", by="bench")

            timed(tp, "checkout, no member", args.orders, plain)
            timed(tp, "checkout, a member", args.orders, member)
            timed(tp, "quote, points + coupon", args.orders, quoting)
            timed(tp, "checkout, points + coupon", args.orders, redeeming)
            timed(tp, f"snapshot of {args.members} members", 5, snapshot)
            timed(tp, "look-up by mobile", args.orders, lookup)
        finally:
            tp.close()


if __name__ == "__main__":
    main()
