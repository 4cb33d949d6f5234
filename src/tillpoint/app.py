"""The application: every service over one database, clock and keystore."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy import inspect, select

from tillpoint.access.accounts import AccountService
from tillpoint.access.service import AccessService
from tillpoint.clearing.days import BusinessDays
from tillpoint.clearing.reconcile import ReconciliationService
from tillpoint.clearing.settlement import SettlementService
from tillpoint.clearing.statements import StatementService
from tillpoint.context import Context
from tillpoint.core.clock import Clock, SystemClock
from tillpoint.core.db import Database, is_sqlite
from tillpoint.core.errors import ConfigurationError
from tillpoint.core.i18n import N_, set_locale
from tillpoint.core.migrate import current_revision, head_revision, upgrade
from tillpoint.core.models import SystemState
from tillpoint.core.settings import Settings
from tillpoint.ledger.service import LedgerService
from tillpoint.merchants.documents import DocumentService
from tillpoint.merchants.fees import FeeService
from tillpoint.merchants.limits import LimitsService
from tillpoint.merchants.models import Merchant
from tillpoint.merchants.services import MerchantService
from tillpoint.payments.checkouts import CheckoutService
from tillpoint.payments.takings import TakingsService
from tillpoint.payments.tallies import PaymentTallies
from tillpoint.payments.views import last_payments
from tillpoint.risk.engine import Engine
from tillpoint.risk.service import RiskService
from tillpoint.security.keystore import Keystore
from tillpoint.store.catalogue import CatalogueService
from tillpoint.store.counters import CounterService
from tillpoint.store.coupons import CouponService
from tillpoint.store.crm import CrmService
from tillpoint.store.imports import ImportService
from tillpoint.store.loyalty import LoyaltyService
from tillpoint.store.members import MemberService
from tillpoint.store.orders import OrderService
from tillpoint.store.shifts import ShiftService
from tillpoint.store.stock import StockService
from tillpoint.store.sync import OfflineSync
from tillpoint.terminals.models import Terminal
from tillpoint.terminals.orders import TerminalOrderService
from tillpoint.terminals.services import TerminalService, terminal_count
from tillpoint.terminals.signon import SignOnService

Migrate = Literal["always", "if-new"]


class Tillpoint:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.merchants = MerchantService(ctx, terminal_count)
        self.documents = DocumentService(ctx, self.merchants)
        self.fees = FeeService(ctx)
        self.limits = LimitsService(ctx)
        self.terminals = TerminalService(ctx, last_payments)
        self.terminal_orders = TerminalOrderService(ctx, self.terminals)
        self.signon = SignOnService(ctx)
        self.ledger = LedgerService(ctx)
        self.days = BusinessDays(ctx)
        self.settlement = SettlementService(ctx, self.days)
        self.statements = StatementService(ctx, self.settlement)
        self.reconciliation = ReconciliationService(ctx, self.days)
        self.access = AccessService(ctx)
        self.accounts = AccountService(ctx)
        self.tallies = PaymentTallies(ctx)
        self.takings = TakingsService(ctx)
        self.checkouts = CheckoutService(ctx)
        self.counters = CounterService(ctx)
        self.shifts = ShiftService(ctx)
        self.orders = OrderService(ctx, self.accounts)
        self.offline = OfflineSync(ctx)
        self.catalogue = CatalogueService(ctx)
        self.catalogue_files = ImportService(ctx, self.catalogue)
        self.stock = StockService(ctx)
        self.members = MemberService(ctx)
        self.loyalty = LoyaltyService(ctx)
        self.coupons = CouponService(ctx)
        self.crm = CrmService(ctx)
        actions = RiskActions(self)
        # One engine per process: its features live in this process's memory.
        self.risk_engine = Engine(
            ctx.db, ctx.now, actions, signalled=ctx.settings.writers_all_local()
        )
        self.risk = RiskService(ctx, self.risk_engine, actions)
        # Code jumping found at reconciliation is risk's: an alert in the merchant's
        # case, which holds its payouts (clearing knows nothing of risk).
        self.reconciliation.watchers.append(self.risk.clearing_mismatch)
        self.signon.places.moved.append(self.risk_engine.moved)

    @property
    def screener(self) -> Engine:
        """Risk screening for this process's payments (payments/screening.py)."""
        return self.risk_engine

    def close(self) -> None:
        self.ctx.db.dispose()


class RiskActions:
    """What risk decisions and cases do, through the services that own each state (and
    audit it): freezing terminals, holding payouts, suspending merchants."""

    ACTOR = "risk"

    def __init__(self, app: Tillpoint) -> None:
        self.app = app

    def _tid(self, terminal_id: int) -> str:
        with self.app.ctx.db.read() as s:
            return s.get_one(Terminal, terminal_id).tid

    def _mid(self, merchant_id: int) -> str:
        with self.app.ctx.db.read() as s:
            return s.get_one(Merchant, merchant_id).mid or ""

    def freeze(self, terminal_id: int, reason: str) -> None:
        self.app.terminals.freeze(self._tid(terminal_id), self.ACTOR, reason)

    def unfreeze(self, terminal_id: int, reason: str) -> None:
        self.app.terminals.unfreeze(self._tid(terminal_id), self.ACTOR, reason)

    def hold(self, merchant_id: int, reason: str) -> None:
        self.app.settlement.hold(self._mid(merchant_id), reason, self.ACTOR)

    def release(self, merchant_id: int) -> None:
        self.app.settlement.release(self._mid(merchant_id), self.ACTOR)

    def suspend(self, merchant_id: int, reason: str) -> None:
        self.app.merchants.suspend(self._mid(merchant_id), self.ACTOR, reason)

    def reinstate(self, merchant_id: int, reason: str) -> None:
        self.app.merchants.reinstate(self._mid(merchant_id), self.ACTOR, reason)


def _recorded_mode(db: Database) -> str | None:
    """How an existing database was set up ('demo' or 'production'), if it says."""
    path = db.engine.url.database
    if is_sqlite(db.url) and (not path or not Path(path).exists()):
        return None  # don't create a database file just to look into it
    if not inspect(db.engine).has_table(SystemState.__tablename__):
        return None
    with db.read() as s:
        return s.scalar(select(SystemState.value).where(SystemState.key == "mode"))


def open_app(
    settings: Settings, *, clock: Clock | None = None, migrate: Migrate = "if-new"
) -> Tillpoint:
    """Open the database, bring a new one up to date, and check the master key.

    An existing database that is behind this version is only migrated on request
    (``tillpoint db upgrade`` or ``serve``), so an upgrade is always deliberate.
    """
    set_locale(settings.locale)
    db = Database(settings.database_url)
    try:
        try:
            master = settings.master_key_bytes()
        except ConfigurationError as err:
            if err.code == "settings.master_key_missing" and _recorded_mode(db) == "demo":
                raise ConfigurationError(
                    "settings.demo_database",
                    N_(
                        "This database was set up in demo mode: set TILLPOINT_DEMO=1 to use "
                        "it (or point TILLPOINT_DATABASE_URL elsewhere)"
                    ),
                ) from None
            raise
        revision = current_revision(db)
        if migrate == "always" or revision is None:
            upgrade(db)
        elif revision != head_revision():
            raise ConfigurationError(
                "db.behind",
                N_(
                    "The database schema is at revision {have} but this version needs {want}: "
                    "run 'tillpoint db upgrade'"
                ),
                have=revision,
                want=head_revision(),
            )
        keystore = Keystore(master)
        _check_master_key(db, keystore, demo=settings.demo)
    except BaseException:
        db.dispose()
        raise
    app = Tillpoint(
        Context(settings=settings, db=db, clock=clock or SystemClock(), keystore=keystore)
    )
    app.risk.ensure_builtin()
    return app


def _check_master_key(db: Database, keystore: Keystore, *, demo: bool) -> None:
    """The first run records the master key's fingerprint; later runs must match it,
    or every stored key would be unreadable (or a demo key used on real data)."""
    with db.transaction() as s:
        state = {row.key: row.value for row in s.scalars(select(SystemState))}
        if "master_key_fingerprint" not in state:
            s.add(SystemState(key="master_key_fingerprint", value=keystore.fingerprint))
            s.add(SystemState(key="mode", value="demo" if demo else "production"))
            return
    if state["master_key_fingerprint"] != keystore.fingerprint:
        if state.get("mode") == "demo":
            raise ConfigurationError(
                "settings.demo_database",
                N_(
                    "This database was set up in demo mode: set TILLPOINT_DEMO=1 to use "
                    "it (or point TILLPOINT_DATABASE_URL elsewhere)"
                ),
            )
        raise ConfigurationError(
            "settings.master_key_mismatch",
            N_(
                "TILLPOINT_MASTER_KEY is not the key this database was set up with "
                "(fingerprint {have}, expected {want}): its stored keys would be unreadable"
            ),
            have=keystore.fingerprint,
            want=state["master_key_fingerprint"],
        )
