"""A mall's counters (专柜): one merchant (the mall) sells at a central till for several
tenants, each at a counter of a shop. A shop with active counters names one on every
order, so that every sale is attributed to its counter; the mall's statement splits
takings per counter. Counters are made, renamed and switched off by the merchant's
owner; they are never deleted (old orders name them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.store.models import Counter

MAX_COUNTER_NUMBER = 9999
MAX_NAME = 100


class CounterView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["counter"] = "counter"
    mid: str
    shop_number: int
    number: int = Field(description="The counter's number within its shop")
    name: str = Field(description="The tenant's shop name, as receipts print it")
    active: bool = Field(description="Orders name active counters only")
    created_at: datetime


def shop_of(s: Session, merchant_id: int | None, number: int) -> Shop:
    """A shop of the merchant (any merchant's, for None) by its number."""
    query = select(Shop).where(Shop.number == number)
    if merchant_id is not None:
        query = query.where(Shop.merchant_id == merchant_id)
    found = s.scalars(query.limit(2)).all()
    if len(found) != 1:
        raise NotFound("shop.not_found", N_("No shop {number}"), number=number)
    return found[0]


def check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= MAX_NAME:
        raise InvalidInput("counter.name", N_("Name the counter (1-100 characters)"))
    return cleaned


class CounterService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, merchant_id: int, shop_number: int, number: int, name: str) -> CounterView:
        """A new counter of one of the merchant's shops (its number unique in the shop)."""
        name = check_name(name)
        if not 1 <= number <= MAX_COUNTER_NUMBER:
            raise InvalidInput(
                "counter.number", N_("A counter's number is 1 to {max}"), max=MAX_COUNTER_NUMBER
            )
        try:
            with self.ctx.db.transaction() as s:
                shop = shop_of(s, merchant_id, shop_number)
                counter = Counter(merchant_id=shop.merchant_id, shop_id=shop.id, number=number,
                                  name=name, active=True, created_at=self.ctx.now())  # fmt: skip
                s.add(counter)
                s.flush()
                return _views(s, [counter])[0]
        except IntegrityError:
            raise Refused(
                "counter.exists",
                N_("Shop {shop} has a counter {number} already"),
                shop=shop_number,
                number=number,
            ) from None

    def update(
        self,
        counter_id: int,
        *,
        merchant_id: int | None,
        name: str | None = None,
        active: bool | None = None,
    ) -> CounterView:
        """Rename a counter, or switch it off (or on again)."""
        cleaned = check_name(name) if name is not None else None
        with self.ctx.db.transaction() as s:
            counter = _counter(s, counter_id, merchant_id, lock=True)
            if cleaned is not None:
                counter.name = cleaned
            if active is not None:
                counter.active = active
            s.flush()
            return _views(s, [counter])[0]

    def get(self, counter_id: int, *, merchant_id: int | None) -> CounterView:
        with self.ctx.db.read() as s:
            return _views(s, [_counter(s, counter_id, merchant_id)])[0]

    def search(
        self,
        *,
        merchant_id: int | None,
        shop_number: int | None = None,
        active: bool | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[CounterView]:
        """Newest first."""
        check_limit(limit)
        query = select(Counter).order_by(Counter.id.desc()).limit(limit)
        with self.ctx.db.read() as s:
            if shop_number is not None:
                if merchant_id is None:
                    query = query.join(Shop, Shop.id == Counter.shop_id).where(
                        Shop.number == shop_number
                    )
                else:
                    query = query.where(Counter.shop_id == shop_of(s, merchant_id, shop_number).id)
            if merchant_id is not None:
                query = query.where(Counter.merchant_id == merchant_id)
            if active is not None:
                query = query.where(Counter.active == active)
            if before_id is not None:
                query = query.where(Counter.id < before_id)
            return _views(s, s.scalars(query).all())


def _counter(
    s: Session, counter_id: int, merchant_id: int | None, *, lock: bool = False
) -> Counter:
    counter = s.get(Counter, counter_id, with_for_update=lock) if counter_id < 2**31 else None
    if counter is None or (merchant_id is not None and counter.merchant_id != merchant_id):
        raise NotFound("counter.not_found", N_("No counter {id}"), id=counter_id)
    return counter


def _views(s: Session, counters: Sequence[Counter]) -> list[CounterView]:
    rows = list(counters)
    if not rows:
        return []
    mids = dict(
        s.execute(
            select(Merchant.id, Merchant.mid).where(Merchant.id.in_({c.merchant_id for c in rows}))
        ).all()
    )
    shops = dict(
        s.execute(select(Shop.id, Shop.number).where(Shop.id.in_({c.shop_id for c in rows}))).all()
    )
    return [
        CounterView(
            id=c.id,
            mid=mids.get(c.merchant_id) or "",
            shop_number=shops[c.shop_id],
            number=c.number,
            name=c.name,
            active=c.active,
            created_at=c.created_at,
        )
        for c in rows
    ]
