"""The fixed demo set-up of the terminal profile (docs/protocol.md).

The same on every install, so any terminal or test can rely on it, and safe to run
again: what exists is left alone, what is missing is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from tillpoint.core.errors import ConfigurationError, NotFound
from tillpoint.core.geo import Position
from tillpoint.core.i18n import N_

if TYPE_CHECKING:  # the demo's constants are light: the virtual terminal reads them
    from tillpoint.access.models import AccountRole
    from tillpoint.app import Tillpoint

DEMO_TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # test key, never production
DEMO_SUPERVISOR_PASSWORD = "123456"  # noqa: S105 - public demo data
DEMO_OPERATOR_CODE = "001"
DEMO_OPERATOR_PASSWORD = "1234"  # noqa: S105 - public demo data
DEMO_ACTOR = "demo"
# The demo's browser accounts (public demo data): an admin, and an owner per merchant.
DEMO_ADMIN = "admin@demo.test"
DEMO_PASSWORD = "tillpoint-demo"  # noqa: S105 - public demo data
MAX_DEMO_TERMINALS = 9999


def demo_tid(n: int) -> str:
    return f"1{n:07d}"


def demo_mid(n: int) -> str:
    return f"89831005411{n:04d}"


#: Where the demo shops are (spec section 4.12): Shanghai, 31.2304 N 121.4737 E.
DEMO_POSITION = Position(31_230_400, 121_473_700)
DEMO_CITY = "上海 Shanghai"
_DEMO_STEP_E6 = 2_000  # 0.002 degrees, some 200 m, between neighbouring demo shops


def demo_position(n: int) -> Position:
    """Demo shop n's position: shop 1 at ``DEMO_POSITION``, the others on a grid of ten
    by ten around it, 0.002 degrees apart (the 101st is at shop 1's place again)."""
    row, column = divmod((n - 1) % 100, 10)
    return Position(
        DEMO_POSITION.latitude_e6 + row * _DEMO_STEP_E6,
        DEMO_POSITION.longitude_e6 + column * _DEMO_STEP_E6,
    )


def demo_serial(n: int) -> str:
    """Demo terminal n's serial number, as provisioned and as it reports it."""
    return f"DEMO{n:05d}"


def demo_merchant_name(n: int) -> str:
    """Demo merchant n's display name, as its portal and its terminal's slips show it."""
    return f"演示超市{n} Demo Mart {n}"


def demo_licence(n: int) -> str:
    from tillpoint.merchants.validation import uscc_check_char

    first17 = f"913100000000{n:05d}"
    return first17 + uscc_check_char(first17)


@dataclass(frozen=True)
class DemoTerminal:
    n: int
    tid: str
    mid: str
    created: bool


def ensure_demo(app: Tillpoint, terminals: int, *, shop: bool = False) -> list[DemoTerminal]:
    """The demo's merchants, terminals and accounts; with ``shop``, merchant 1's shop
    ready to sell at the till too (``ensure_demo_shop``: the CLI's demo; the tests make
    shops of their own)."""
    from tillpoint.access.models import AccountRole

    if not app.ctx.settings.demo:
        raise ConfigurationError(
            "demo.not_demo_mode",
            N_("Demo data goes only into a demo database (TILLPOINT_DEMO=1)"),
        )
    if not 1 <= terminals <= MAX_DEMO_TERMINALS:
        raise ConfigurationError(
            "demo.terminals", N_("Demo terminals: 1 to {max}"), max=MAX_DEMO_TERMINALS
        )
    made = [_ensure_one(app, n) for n in range(1, terminals + 1)]
    _ensure_account(app, DEMO_ADMIN, "演示管理员 Demo Admin", {AccountRole.ADMIN}, None)
    for n in range(1, terminals + 1):
        owner = f"店主{n} Owner {n}"
        _ensure_account(app, demo_owner(n), owner, {AccountRole.OWNER}, demo_mid(n))
    _ensure_demo_risk(app)
    if shop:
        ensure_demo_shop(app)
    return made


#: The demo's few test cards pay again and again, some are refused on purpose, and
#: their numbers follow each other in one BIN (as card testers' do): the card rules get
#: room for it (a new version each, by "demo", saying why).
DEMO_CARD_RULES = {
    "velocity_card": {"default": {"max_10m": 60, "max_24h": 500}},
    "card_testing_card": {"default": {"max_declines": 20}},
    "card_testing_sequence": {"default": {"max_run": 20}},
    "card_testing_terminal": {"default": {"max_cards": 20, "max_declines": 20, "max_small": 60}},
}


DEMO_CASHIER = "cashier1@demo.test"
DEMO_SUPPLIER = "演示供应商 Demo Supplier"
#: Demo merchant 1's shop: a small grocery (EAN-13 codes in China's 690 range, given here
#: without their check digit, two weighed products with their scales' PLUs) and its
#: goods in stock. (sku, name, category, price, cost, weighed, PLU or code, stock)
DEMO_PRODUCTS: tuple[tuple[str, str, str, int, int, bool, str, str], ...] = (
    ("D001", "矿泉水 550ml Water", "饮料 Drinks", 200, 90, False, "690123400001", "120"),
    ("D002", "可乐 330ml Cola", "饮料 Drinks", 350, 180, False, "690123400002", "96"),
    ("D003", "绿茶 500ml Green tea", "饮料 Drinks", 400, 210, False, "690123400003", "72"),
    ("D004", "纯牛奶 250ml Milk", "饮料 Drinks", 380, 230, False, "690123400004", "48"),
    ("D005", "方便面 Instant noodles", "食品 Food", 450, 260, False, "690123400005", "60"),
    ("D006", "吐司面包 Sliced bread", "食品 Food", 1290, 700, False, "690123400006", "20"),
    ("D007", "巧克力 Chocolate bar", "食品 Food", 990, 520, False, "690123400007", "40"),
    ("D008", "鸡蛋 10枚 Eggs (10)", "生鲜 Fresh", 1580, 1100, False, "690123400008", "30"),
    ("D009", "苹果 Apples", "生鲜 Fresh", 1280, 700, True, "1001", "50"),
    ("D010", "香蕉 Bananas", "生鲜 Fresh", 690, 380, True, "1002", "40"),
    ("D011", "纸巾 Tissues", "日用 Household", 1590, 900, False, "690123400011", "36"),
    ("D012", "大米 5kg Rice", "食品 Food", 3990, 2900, False, "690123400012", "25"),
)


def ensure_demo_shop(app: Tillpoint) -> None:
    """Demo merchant 1's shop, ready to sell at ``/cashier``: its catalogue and stock
    (put in once, while its catalogue is empty: what the owner changed stays) and its
    cashier ``cashier1@demo.test`` (password ``DEMO_PASSWORD``)."""
    from tillpoint.access.models import AccountRole
    from tillpoint.store.barcodes import with_check_digit
    from tillpoint.store.catalogue import ProductIn
    from tillpoint.store.models import SoldBy
    from tillpoint.store.stock import Line

    mid = demo_mid(1)
    merchant_id = app.merchants.get(mid).id
    _ensure_account(app, DEMO_CASHIER, "收银员 Demo Cashier", {AccountRole.CASHIER}, mid, shop=1)
    if app.catalogue.count(merchant_id):
        return
    lines = []
    for sku, name, category, price, cost, weighed, code, stock in DEMO_PRODUCTS:
        made = app.catalogue.create(
            merchant_id,
            ProductIn(
                sku=sku, name=name, price_minor=price, cost_minor=cost, category=category,
                sold_by=SoldBy.WEIGHT if weighed else SoldBy.PIECE,
                plu=int(code) if weighed else None,
                barcodes=() if weighed else (with_check_digit(code),),
            ),
        )  # fmt: skip
        lines.append(Line(made.id, stock))
    app.stock.book_receipt(merchant_id, 1, DEMO_SUPPLIER, lines, DEMO_ACTOR, document="DEMO-1")


def _ensure_demo_risk(app: Tillpoint) -> None:
    for code, params in DEMO_CARD_RULES.items():
        rule = app.risk.rule(code)
        if rule.params != params and rule.updated_by == "system":  # never an operator's
            app.risk.update(code, "demo", "demo: the test cards, again and again", params=params)


def demo_owner(n: int) -> str:
    """The sign-in of demo merchant n's owner (its password: ``DEMO_PASSWORD``)."""
    return f"owner{n}@demo.test"


def _ensure_account(
    app: Tillpoint,
    email: str,
    name: str,
    roles: set[AccountRole],
    mid: str | None,
    *,
    shop: int | None = None,
) -> None:
    try:
        app.accounts.get(email)
    except NotFound:
        app.accounts.create(name=name, roles=roles, actor=DEMO_ACTOR, email=email,
                            merchant_ref=mid, shop_number=shop,
                            password_hash=_demo_hash())  # fmt: skip


@cache
def _demo_hash() -> str:
    """The demo password's hash, made once: a slow hash is slow on purpose."""
    from tillpoint.security.passwords import hash_password

    return hash_password(DEMO_PASSWORD)


def _ensure_one(app: Tillpoint, n: int) -> DemoTerminal:
    from tillpoint.merchants.models import MerchantKind
    from tillpoint.merchants.services import Application

    mid, tid, created = demo_mid(n), demo_tid(n), False
    try:
        app.merchants.get(mid)
    except NotFound:
        applied = app.merchants.apply(
            Application(
                kind=MerchantKind.BUSINESS,
                legal_name=f"演示商户{n}有限公司 Demo Merchant {n} Ltd",
                display_name=demo_merchant_name(n),
                mcc="5411",
                region_code="3100",
                contact_name="张三 Zhang San",
                contact_phone="13800138000",
                contact_email=f"demo{n}@example.com",
                business_licence_no=demo_licence(n),
                bank_name="演示银行 Demo Bank",
                bank_account_name=f"演示商户{n}有限公司 Demo Merchant {n} Ltd",
                bank_account_no=f"3100{n:012d}",
                shop_address=f"上海市浦东新区演示路{n}号 {n} Demo Road, Shanghai",
            ),
            DEMO_ACTOR,
        )
        app.merchants.approve(str(applied.id), DEMO_ACTOR, "demo merchant", mid=mid)
        created = True
    _ensure_shop_place(app, n, mid)
    try:
        app.terminals.get(tid)
    except NotFound:
        app.terminals.add(
            demo_serial(n),
            "Tillpoint Virtual POS",
            DEMO_ACTOR,
            tid=tid,
            tmk=DEMO_TMK,
            require_operator_password=False,  # anyone may try the demo without a password
        )
        app.terminals.bind(tid, mid, DEMO_ACTOR, supervisor_password=DEMO_SUPERVISOR_PASSWORD)
        app.terminals.add_operator(
            tid, DEMO_OPERATOR_CODE, DEMO_OPERATOR_PASSWORD, DEMO_ACTOR, "演示收银员 Demo cashier"
        )
        app.terminals.ship(tid, DEMO_ACTOR, "demo terminal")
        created = True
    return DemoTerminal(n=n, tid=tid, mid=mid, created=created)


def _ensure_shop_place(app: Tillpoint, n: int, mid: str) -> None:
    """Demo shop n's position and city, also in a demo database made before shops had
    them (a shop that has a position keeps it)."""
    first = min(app.merchants.list_shops(mid), key=lambda shop: shop.number)
    if first.latitude is None:
        app.merchants.update_shop(
            mid, first.number, DEMO_ACTOR, position=demo_position(n), city=DEMO_CITY
        )
