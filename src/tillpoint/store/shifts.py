"""A till's shifts: a cashier opens one with the cash float counted into the drawer,
sells under it, and closes it with the cash counted out.

- One open shift per till of a shop (a partial unique index says so).
- The X report, at any time, is what the shift took so far: orders, takings by tender,
  returns and what they paid back, discounts, and the cash the drawer should hold:
  the float plus cash taken less cash paid back (a cash tender's change is netted: it
  counts what it paid of the order, never what was handed over).
- Closing counts the cash: over (+) or short (-) is the count less that expectation.
  The closed shift, numbered per shop, is the Z report. A shift with a tender still
  under way, or an order part paid, does not close; orders rung up and not paid are
  held, to be recalled at the next shift.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.access.models import Account, AccountRole, AccountRoleGrant, AccountStatus
from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, MerchantStatus, Shop, ShopStatus
from tillpoint.store.counters import shop_of
from tillpoint.store.models import (
    Counter,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    OrderTender,
    ReceiptSequence,
    Shift,
    ShiftStatus,
    TenderKind,
    TenderStatus,
)
from tillpoint.store.offline_models import Flag, OfflineOrder

TILL = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,19}")
MAX_CASH_MINOR = 10**10  # 100,000,000.00 in a drawer: far above any till's
SELLERS = frozenset({AccountRole.OWNER, AccountRole.MANAGER})  # in every shop of theirs


# --- views ---------------------------------------------------------------------------------


class TenderTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: TenderKind
    count: int
    amount_minor: int


class CounterTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    counter_number: int
    name: str
    orders: int = Field(description="Sales paid")
    sales_minor: int
    returns_minor: int


class ShiftReport(BaseModel):
    """The X report of an open shift, or the Z report of a closed one."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["X", "Z"]
    sales: int = Field(description="Sales paid")
    sales_minor: int
    returns: int = Field(description="Returns paid back")
    returns_minor: int
    net_minor: int = Field(description="Sales less returns")
    discounts_minor: int = Field(description="Line and order discounts of the sales paid")
    takings: list[TenderTotal] = Field(description="Tenders taken, by kind")
    refunds: list[TenderTotal] = Field(description="Money paid back by returns, by kind")
    cash_in_minor: int = Field(description="Cash taken (change netted)")
    cash_out_minor: int = Field(description="Cash paid back by returns")
    change_given_minor: int
    expected_cash_minor: int = Field(description="Float + cash in - cash out")
    counted_cash_minor: int | None
    over_short_minor: int | None = Field(description="Counted less expected: + over, - short")
    open_orders: int
    held_orders: int
    pending_tenders: int
    counters: list[CounterTotal] = Field(description="A mall's sales by counter")
    late_orders: int = Field(
        default=0,
        description="Offline sales that arrived after the shift closed: in the figures "
        "above, not in the cash expected when it was counted",
    )
    late_sales_minor: int = Field(default=0, description="What those sales took")
    late_cash_minor: int = Field(default=0, description="The cash those sales took")
    over_short_with_late_minor: int | None = Field(
        default=None,
        description="A closed shift's count less the cash expected with the late sales' cash",
    )


class ShiftView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["shift"] = "shift"
    mid: str
    shop_number: int
    number: int = Field(description="The shift's number in its shop: the Z number")
    till: str
    cashier_id: int = Field(description="The account that opened it")
    status: ShiftStatus
    currency: str
    float_minor: int
    opened_at: datetime
    closed_at: datetime | None
    closed_by: int | None
    report: ShiftReport | None = Field(description="Given when one shift is asked for")


# --- who may sell where ------------------------------------------------------------------------


def check_till(till: str) -> str:
    if TILL.fullmatch(till) is None:
        raise InvalidInput("shift.till", N_("A till's name is 1 to 20 letters, digits, '-' or '_'"))
    return till


def check_seller(s: Session, account_id: int, merchant_id: int, shop: Shop) -> Account:
    """An active account of the merchant that may sell in ``shop``: its owner or a
    manager anywhere, a cashier in its own shop."""
    account = s.get(Account, account_id) if 0 < account_id < 2**31 else None
    if account is None or account.merchant_id != merchant_id:
        raise NotFound("account.not_found", N_("No account {ref}"), ref=account_id)
    if account.status is not AccountStatus.ACTIVE:
        raise Refused("seller.inactive", N_("Account {id} is {status}"), id=account_id,
                      status=account.status)  # fmt: skip
    roles = set(s.scalars(select(AccountRoleGrant.role).where(AccountRoleGrant.account_id
                                                               == account_id)))  # fmt: skip
    if roles & SELLERS or (AccountRole.CASHIER in roles and account.shop_id == shop.id):
        return account
    raise Refused(
        "seller.not_here",
        N_("Account {id} may not sell in shop {number}"),
        id=account_id,
        number=shop.number,
    )


def trading_shop(s: Session, shop: Shop) -> Merchant:
    """The shop's merchant, if the shop is open and the merchant may trade."""
    if shop.status is not ShopStatus.OPEN:
        raise Refused("shop.closed", N_("Shop {number} is closed"), number=shop.number)
    merchant = s.get_one(Merchant, shop.merchant_id)
    if merchant.status is not MerchantStatus.APPROVED:
        raise Refused(
            "merchant.not_trading",
            N_("Merchant {ref} is {status}: it cannot take payments"),
            ref=merchant.mid,
            status=merchant.status,
        )
    return merchant


def visible_shift(
    s: Session, shift_id: int, merchant_id: int | None, *, lock: bool = False
) -> Shift:
    shift = s.get(Shift, shift_id, with_for_update=lock) if 0 < shift_id < 2**62 else None
    if shift is None or (merchant_id is not None and shift.merchant_id != merchant_id):
        raise NotFound("shift.not_found", N_("No shift {id}"), id=shift_id)
    return shift


# --- the service ---------------------------------------------------------------------------------


class ShiftService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def open(
        self, merchant_id: int, shop_number: int, till: str, float_minor: int, cashier_id: int
    ) -> ShiftView:
        """Open a shift at a till of one of the merchant's shops, with the float counted
        into its drawer, for the account that will sell (the cashier)."""
        till = check_till(till)
        if not 0 <= float_minor <= MAX_CASH_MINOR:
            raise InvalidInput("shift.float", N_("The float is 0 or more fen, within reason"))
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction() as s:
                shop = shop_of(s, merchant_id, shop_number)
                check_seller(s, cashier_id, shop.merchant_id, shop)
                trading_shop(s, shop)
                last = s.scalar(select(func.max(Shift.number)).where(Shift.shop_id == shop.id))
                shift = Shift(
                    merchant_id=shop.merchant_id, shop_id=shop.id, number=(last or 0) + 1,
                    till=till, account_id=cashier_id, status=ShiftStatus.OPEN,
                    currency=self.ctx.settings.currency, float_minor=float_minor, opened_at=now,
                )  # fmt: skip
                s.add(shift)
                s.flush()
                # The till's receipt numbers start here once; paying an order takes the next.
                if s.get(ReceiptSequence, (shop.id, till)) is None:
                    s.execute(insert(ReceiptSequence).values(shop_id=shop.id, till=till,
                              merchant_id=shop.merchant_id, next_number=1))  # fmt: skip
                return self._view(s, shift, report=True)
        except IntegrityError:  # the till's open shift, or the shop's next number, taken
            raise Refused(
                "shift.open_already",
                N_("Till {till} of shop {number} has an open shift already"),
                till=till,
                number=shop_number,
            ) from None

    def get(self, shift_id: int, *, merchant_id: int | None) -> ShiftView:
        """The shift with its report (X while open, Z once closed)."""
        with self.ctx.db.read() as s:
            return self._view(s, visible_shift(s, shift_id, merchant_id), report=True)

    def search(
        self,
        *,
        merchant_id: int | None,
        shop_number: int | None = None,
        till: str | None = None,
        status: ShiftStatus | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[ShiftView]:
        """Newest first, without their reports."""
        check_limit(limit)
        query = select(Shift).order_by(Shift.id.desc()).limit(limit)
        with self.ctx.db.read() as s:
            if merchant_id is not None:
                query = query.where(Shift.merchant_id == merchant_id)
            if shop_number is not None:
                if merchant_id is None:
                    query = query.join(Shop, Shop.id == Shift.shop_id).where(
                        Shop.number == shop_number
                    )
                else:
                    query = query.where(Shift.shop_id == shop_of(s, merchant_id, shop_number).id)
            if till is not None:
                query = query.where(Shift.till == till)
            if status is not None:
                query = query.where(Shift.status == status)
            if before_id is not None:
                query = query.where(Shift.id < before_id)
            return [self._view(s, x, report=False) for x in s.scalars(query).all()]

    def close(
        self,
        shift_id: int,
        counted_cash_minor: int,
        *,
        merchant_id: int | None,
        closed_by: int | None = None,
    ) -> ShiftView:
        """Close the shift with the cash counted in its drawer: the Z report."""
        if not 0 <= counted_cash_minor <= MAX_CASH_MINOR:
            raise InvalidInput("shift.counted", N_("The cash counted is 0 or more fen"))
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            shift = visible_shift(s, shift_id, merchant_id, lock=True)
            if shift.status is not ShiftStatus.OPEN:
                raise Refused("shift.closed", N_("Shift {id} is closed already"), id=shift_id)
            shop = s.get_one(Shop, shift.shop_id)
            closer = shift.account_id if closed_by is None else closed_by
            if closed_by is not None:
                check_seller(s, closed_by, shift.merchant_id, shop)
            busy = s.execute(
                select(Order.id)
                .join(OrderTender, OrderTender.order_id == Order.id)
                .where(Order.shift_id == shift.id, Order.status == OrderStatus.OPEN,
                       OrderTender.status.in_((TenderStatus.PENDING, TenderStatus.PAID,
                                               TenderStatus.REFUNDED)))
                .limit(1)
            ).scalar()  # fmt: skip
            if busy is not None:
                raise Refused(
                    "shift.order_under_way",
                    N_("Order {order} is being paid: finish or cancel it before closing"),
                    order=busy,
                )
            s.execute(
                update(Order)
                .where(Order.shift_id == shift.id, Order.status == OrderStatus.OPEN)
                .values(status=OrderStatus.HELD, updated_at=now)
            )
            expected = shift_report(s, shift).expected_cash_minor
            shift.status, shift.closed_at, shift.closed_by = ShiftStatus.CLOSED, now, closer
            shift.counted_cash_minor, shift.expected_cash_minor = counted_cash_minor, expected
            s.flush()
            return self._view(s, shift, report=True)

    @staticmethod
    def _view(s: Session, shift: Shift, *, report: bool) -> ShiftView:
        mid = s.scalar(select(Merchant.mid).where(Merchant.id == shift.merchant_id)) or ""
        number = s.scalar(select(Shop.number).where(Shop.id == shift.shop_id))
        return ShiftView(
            id=shift.id, mid=mid, shop_number=number or 0, number=shift.number, till=shift.till,
            cashier_id=shift.account_id, status=shift.status, currency=shift.currency,
            float_minor=shift.float_minor, opened_at=shift.opened_at, closed_at=shift.closed_at,
            closed_by=shift.closed_by, report=shift_report(s, shift) if report else None,
        )  # fmt: skip


def shift_report(s: Session, shift: Shift) -> ShiftReport:
    """What the shift took, paid back and should hold in cash (a few grouped reads)."""
    orders = s.execute(
        select(Order.kind, Order.status, func.count(),
               func.coalesce(func.sum(Order.total_minor), 0),
               func.coalesce(func.sum(Order.discount_minor), 0))
        .where(Order.shift_id == shift.id)
        .group_by(Order.kind, Order.status)
    ).all()  # fmt: skip
    counts = {(k, st): (int(n), int(total), int(disc)) for k, st, n, total, disc in orders}
    sales, sales_minor, order_discounts = counts.get((OrderKind.SALE, OrderStatus.PAID), (0, 0, 0))
    returns, returns_minor, _ = counts.get((OrderKind.RETURN, OrderStatus.PAID), (0, 0, 0))
    line_discounts = s.scalar(
        select(func.coalesce(func.sum(OrderLine.discount_minor), 0))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.shift_id == shift.id, Order.kind == OrderKind.SALE,
               Order.status == OrderStatus.PAID)
    ) or 0  # fmt: skip
    tenders = s.execute(
        select(Order.kind, OrderTender.kind, OrderTender.status, func.count(),
               func.coalesce(func.sum(OrderTender.amount_minor), 0),
               func.coalesce(func.sum(OrderTender.change_minor), 0))
        .join(Order, Order.id == OrderTender.order_id)
        .where(Order.shift_id == shift.id)
        .group_by(Order.kind, OrderTender.kind, OrderTender.status)
    ).all()  # fmt: skip
    takings: dict[TenderKind, list[int]] = {}
    refunds: dict[TenderKind, list[int]] = {}
    pending = change = 0
    for order_kind, kind, status, n, amount, given in tenders:
        if status is TenderStatus.PENDING:
            pending += int(n)
        elif order_kind is OrderKind.SALE and status is TenderStatus.PAID:
            sums = takings.setdefault(kind, [0, 0])
            sums[0], sums[1] = sums[0] + int(n), sums[1] + int(amount)
            if kind is TenderKind.CASH:
                change += int(given)
        elif order_kind is OrderKind.RETURN and status is TenderStatus.REFUNDED:
            sums = refunds.setdefault(kind, [0, 0])
            sums[0], sums[1] = sums[0] + int(n), sums[1] + int(amount)
    cash_in = takings.get(TenderKind.CASH, [0, 0])[1]
    cash_out = refunds.get(TenderKind.CASH, [0, 0])[1]
    expected = shift.float_minor + cash_in - cash_out
    closed = shift.status is ShiftStatus.CLOSED and shift.counted_cash_minor is not None
    if closed and shift.expected_cash_minor is not None:
        expected = shift.expected_cash_minor  # as it was when counted
    by_counter = s.execute(
        select(Counter.number, Counter.name, Order.kind, func.count(),
               func.coalesce(func.sum(Order.total_minor), 0))
        .join(Counter, Counter.id == Order.counter_id)
        .where(Order.shift_id == shift.id, Order.status == OrderStatus.PAID)
        .group_by(Counter.number, Counter.name, Order.kind)
        .order_by(Counter.number)
    ).all()  # fmt: skip
    counters: dict[int, CounterTotal] = {}
    for number, name, sold_or_back, n, total in by_counter:
        was = counters.get(number) or CounterTotal(counter_number=number, name=name, orders=0,
                                                   sales_minor=0, returns_minor=0)  # fmt: skip
        if sold_or_back is OrderKind.SALE:
            was = was.model_copy(update={"orders": int(n), "sales_minor": int(total)})
        else:
            was = was.model_copy(update={"returns_minor": int(total)})
        counters[number] = was

    late_orders = late_sales = late_cash = 0
    if closed:
        late_orders, late_sales, late_cash = _late(s, shift.id)

    def totals(found: dict[TenderKind, list[int]]) -> list[TenderTotal]:
        return [
            TenderTotal(kind=k, count=found[k][0], amount_minor=found[k][1])
            for k in TenderKind
            if k in found
        ]

    return ShiftReport(
        kind="Z" if closed else "X",
        sales=sales, sales_minor=sales_minor, returns=returns, returns_minor=returns_minor,
        net_minor=sales_minor - returns_minor,
        discounts_minor=order_discounts + int(line_discounts),
        takings=totals(takings), refunds=totals(refunds), cash_in_minor=cash_in,
        cash_out_minor=cash_out, change_given_minor=change, expected_cash_minor=expected,
        counted_cash_minor=shift.counted_cash_minor if closed else None,
        over_short_minor=(shift.counted_cash_minor or 0) - expected if closed else None,
        open_orders=counts.get((OrderKind.SALE, OrderStatus.OPEN), (0, 0, 0))[0]
        + counts.get((OrderKind.RETURN, OrderStatus.OPEN), (0, 0, 0))[0],
        held_orders=counts.get((OrderKind.SALE, OrderStatus.HELD), (0, 0, 0))[0],
        pending_tenders=pending, counters=list(counters.values()), late_orders=late_orders,
        late_sales_minor=late_sales, late_cash_minor=late_cash,
        over_short_with_late_minor=(shift.counted_cash_minor or 0) - expected - late_cash
        if closed and late_orders else None,
    )  # fmt: skip


def _late(s: Session, shift_id: int) -> tuple[int, int, int]:
    """A closed shift's offline sales that arrived after it closed (``shift_closed``
    noted of them): how many, what they took, the cash of it."""
    late = (
        select(OfflineOrder.order_id)
        .join(Order, Order.id == OfflineOrder.order_id)
        .where(Order.shift_id == shift_id, Order.status == OrderStatus.PAID,
               OfflineOrder.flags.op("&")(int(Flag.SHIFT_CLOSED)) != 0)
    )  # fmt: skip
    orders, sales = s.execute(
        select(func.count(), func.coalesce(func.sum(Order.total_minor), 0)).where(
            Order.id.in_(late)
        )
    ).one()
    cash = s.scalar(
        select(func.coalesce(func.sum(OrderTender.amount_minor), 0)).where(
            OrderTender.order_id.in_(late), OrderTender.kind == TenderKind.CASH,
            OrderTender.status == TenderStatus.PAID,
        )
    )  # fmt: skip
    return int(orders), int(sales), int(cash or 0)
