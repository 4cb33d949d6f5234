"""People's accounts for the browser (console, portal, cashier): made by an admin or the
CLI, signed in by email or mobile number and password, kept signed in by a session.

- Passwords are Argon2id hashes; at least ``MIN_PASSWORD`` characters. One made for a
  person (a new account without a password, a reset) is shown once and must be changed
  at the next sign-in.
- ``LOCK_AFTER`` wrong passwords in a row lock the account until an admin resets it;
  one address that fails ``ADDRESS_FAILURES`` times within ``ADDRESS_WINDOW`` is refused
  for the rest of the window, whatever login it tries. Every sign-in, failed or not,
  every lock and every reset is in the audit log.
- A person applying for a POS makes their own account (``sign_up``): an applicant,
  of no merchant until they apply (``submit_application``). One address makes at most
  ``SIGN_UPS_PER_ADDRESS`` within ``SIGN_UP_WINDOW``; each is in the audit log.
- A session lasts ``SESSION_IDLE`` without use and ``SESSION_MAX`` at most; its cookie
  holds a random token of which only the SHA-256 is stored, and it carries the CSRF
  token every form and state-changing request must echo.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.access import totp
from tillpoint.access.models import (
    MERCHANT_ROLES,
    PORTAL_ROLES,
    STAFF_ROLES,
    Account,
    AccountRole,
    AccountRoleGrant,
    AccountStatus,
    AuditRecord,
    WebSession,
)
from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_, normalise_locale
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, MerchantStatus, Shop
from tillpoint.merchants.services import Application, MerchantService, find_merchant
from tillpoint.merchants.validation import email as valid_email
from tillpoint.merchants.validation import text as valid_text
from tillpoint.merchants.views import MerchantView
from tillpoint.security.passwords import hash_password, verify_password

# The people an owner adds to its merchant in the portal.
PEOPLE_ROLES = frozenset({AccountRole.MANAGER, AccountRole.CASHIER})
MIN_PASSWORD = 10
MAX_PASSWORD = 200
LOCK_AFTER = 5  # wrong passwords in a row
ADDRESS_FAILURES = 20  # failed sign-ins from one address within the window
ADDRESS_WINDOW = timedelta(minutes=10)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
SEEN_EVERY = timedelta(minutes=1)  # how stale a session's last_seen_at may get
SIGN_IN = "console sign_in"
SIGN_UP = "console sign_up"
SIGN_UPS_PER_ADDRESS = 5  # accounts one address may make (or try to) within the window
SIGN_UP_WINDOW = timedelta(hours=1)
HALF_SESSION = timedelta(minutes=5)  # from a right password to the code


@cache
def _nobody() -> str:
    """Checked when a login is unknown, so that a wrong login takes as long as a wrong
    password (made at the first need: a slow hash has no place in start-up)."""
    return hash_password(secrets.token_urlsafe(16))


class AccountView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    email: str | None
    mobile: str | None
    name: str
    roles: tuple[AccountRole, ...]
    merchant_id: int | None
    mid: str | None
    shop_id: int | None
    locale: str | None  # None: the browser's language
    status: AccountStatus
    must_change_password: bool
    created_by: str
    created_at: datetime
    last_sign_in_at: datetime | None
    totp: bool = False  # a second factor is on

    @property
    def login(self) -> str:
        return self.email or self.mobile or ""

    @property
    def staff(self) -> bool:
        return bool(set(self.roles) & STAFF_ROLES)

    @property
    def portal(self) -> bool:
        """A merchant's user or an applicant: someone of the merchant portal."""
        return bool(set(self.roles) & PORTAL_ROLES)

    def has(self, *roles: AccountRole) -> bool:
        """Whether the account holds any of ``roles`` (an admin holds every staff role)."""
        held = set(self.roles)
        if AccountRole.ADMIN in held:
            held |= STAFF_ROLES
        return bool(held & set(roles))


class NewAccount(BaseModel):
    """A new account, and its first password when one was made for it (shown once)."""

    model_config = ConfigDict(frozen=True)

    account: AccountView
    password: str | None


@dataclass(frozen=True)
class SignedIn:
    """A session: the cookie's token (secret, shown to this browser only), its CSRF
    token, and who it is."""

    token: str
    csrf_token: str
    account: AccountView
    expires_at: datetime


@dataclass(frozen=True)
class NeedsCode:
    """A right password for an account with a second factor: not a session yet. The
    token (signed, short-lived, void once the password changes) goes back with the
    code."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TotpSetup:
    """A second factor being set up: its secret (shown as text beside the QR code) and
    the ``otpauth://`` address the QR code carries."""

    secret: str
    uri: str


def new_password() -> str:
    """A password made for a person: 16 characters, about 95 bits."""
    return secrets.token_urlsafe(12)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- accounts ---------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        roles: set[AccountRole],
        actor: str,
        email: str | None = None,
        mobile: str | None = None,
        merchant_ref: str | None = None,
        shop_number: int | None = None,
        password: str | None = None,
        password_hash: str | None = None,
        locale: str | None = None,
    ) -> NewAccount:
        """A new account. Staff roles and merchant roles do not mix; merchant roles need
        the merchant, a cashier its shop. Without ``password`` one is made, shown once
        (``password_hash``: a hash made already, for the demo's shared public one)."""
        actor = check_actor(actor)
        name = valid_text("name", name, max_len=100)
        email_, mobile_ = _login_fields(email, mobile)
        if not roles:
            raise InvalidInput("account.no_role", N_("Give the account at least one role"))
        if roles & STAFF_ROLES and roles & MERCHANT_ROLES:
            raise InvalidInput(
                "account.mixed_roles",
                N_("An account is either the acquirer's staff or one merchant's, not both"),
            )
        merchant_side = bool(roles & MERCHANT_ROLES)
        if merchant_side != (merchant_ref is not None):
            raise InvalidInput(
                "account.merchant",
                N_("Merchant roles need the merchant (--merchant); staff roles take none"),
            )
        if (AccountRole.CASHIER in roles) != (shop_number is not None):
            raise InvalidInput(
                "account.shop", N_("A cashier belongs to one shop (--shop); only a cashier")
            )
        made = None
        if password is None and password_hash is None:
            password = made = new_password()
        if password is not None:
            _check_password(password)
            password_hash = hash_password(password)
        locale = check_locale(locale)
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction() as s:
                merchant, shop = self._merchant_and_shop(s, merchant_ref, shop_number)
                account = Account(
                    email=email_, mobile=mobile_, name=name, password_hash=password_hash,
                    merchant_id=merchant.id if merchant else None,
                    shop_id=shop.id if shop else None, locale=locale,
                    status=AccountStatus.ACTIVE, failed_sign_ins=0,
                    must_change_password=made is not None, created_by=actor, created_at=now,
                )  # fmt: skip
                s.add(account)
                s.flush()
                s.add_all(AccountRoleGrant(account_id=account.id, role=r) for r in sorted(roles))
                _audit(s, now, actor, "console account created", account, 201)
                view = _view(s, account)
        except IntegrityError:
            raise Refused(
                "account.exists",
                N_("An account with that email or mobile number exists already"),
            ) from None
        return NewAccount(account=view, password=made)

    def get(self, ref: str) -> AccountView:
        with self.ctx.db.read() as s:
            return _view(s, _find(s, ref))

    def list(
        self,
        *,
        after_id: int = 0,
        limit: int = 50,
        role: AccountRole | None = None,
        status: AccountStatus | None = None,
        search: str | None = None,
    ) -> list[AccountView]:
        """Accounts, oldest first; ``role``, ``status`` and ``search`` (a part of the
        email or mobile number) narrow them."""
        check_limit(limit)
        query = select(Account).where(Account.id > after_id)
        if role is not None:
            held = select(AccountRoleGrant.account_id).where(AccountRoleGrant.role == role)
            query = query.where(Account.id.in_(held))
        if status is not None:
            query = query.where(Account.status == status)
        if search:
            pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace(
                "%", "\\%").replace("_", "\\_") + "%"  # fmt: skip
            query = query.where(
                or_(
                    Account.email.like(pattern, escape="\\"),
                    Account.mobile.like(pattern, escape="\\"),
                )
            )
        with self.ctx.db.read() as s:
            rows = s.scalars(query.order_by(Account.id).limit(limit))
            return [_view(s, a) for a in rows]

    def lock(
        self, ref: str, actor: str, *, by: int | None = None, within: int | None = None
    ) -> AccountView:
        """An admin locks an account: it signs in no more (every session of it ends)
        until unlocked. ``by`` is the admin's own account: nobody locks themselves.
        ``within``: an owner's change, to one of its merchant's people (``_person``)."""
        actor = check_actor(actor)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = _find(s, ref, lock=True, within=within)
            if account.id == by:
                raise Refused("account.lock_self", N_("You cannot lock your own account"))
            if account.status is not AccountStatus.LOCKED:
                account.status, account.locked_at = AccountStatus.LOCKED, now
                s.execute(delete(WebSession).where(WebSession.account_id == account.id))
                _audit(s, now, actor, "console account locked", account, 200)
            return _view(s, account)

    def unlock(self, ref: str, actor: str, *, within: int | None = None) -> AccountView:
        """An admin unlocks an account; its count of wrong passwords starts again.
        ``within``: an owner's change, to one of its merchant's people (``_person``)."""
        actor = check_actor(actor)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = _find(s, ref, lock=True, within=within)
            if account.status is AccountStatus.LOCKED:
                account.status, account.locked_at = AccountStatus.ACTIVE, None
                account.failed_sign_ins = 0
                _audit(s, now, actor, "console account unlocked", account, 200)
            return _view(s, account)

    def set_roles(
        self, ref: str, roles: set[AccountRole], actor: str, *, by: int | None = None
    ) -> AccountView:
        """An admin changes an account's roles, within its side: staff roles for staff,
        a merchant's for a merchant's (a cashier's need its shop). ``by`` is the admin's
        own account: nobody takes their own admin role away."""
        actor = check_actor(actor)
        if not roles:
            raise InvalidInput("account.no_role", N_("Give the account at least one role"))
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = _find(s, ref, lock=True)
            side = MERCHANT_ROLES if account.merchant_id is not None else STAFF_ROLES
            if not roles <= side:
                raise InvalidInput(
                    "account.side",
                    N_("A staff account takes staff roles only; a merchant's, merchant roles"),
                )
            if (AccountRole.CASHIER in roles) != (account.shop_id is not None):
                raise InvalidInput(
                    "account.shop", N_("A cashier belongs to one shop (--shop); only a cashier")
                )
            before = set(_roles(s, account.id))
            if account.id == by and AccountRole.ADMIN in before - roles:
                raise Refused("account.own_admin", N_("You cannot take away your own admin role"))
            if before != roles:
                s.execute(delete(AccountRoleGrant).where(AccountRoleGrant.account_id == account.id))
                s.add_all(AccountRoleGrant(account_id=account.id, role=r) for r in sorted(roles))
                _audit(s, now, actor, "console roles changed", account, 200, None,
                       {"from": sorted(before), "to": sorted(roles)})  # fmt: skip
            s.flush()
            return _view(s, account)

    def promote_applicant(self, account_id: int) -> AccountView:
        """An applicant whose application has been approved becomes the owner of the
        merchant it made (done when they next open a portal page); anyone else is left
        as they are."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = s.get_one(Account, account_id, with_for_update=True)
            roles = set(_roles(s, account.id))
            merchant = s.get(Merchant, account.merchant_id) if account.merchant_id else None
            if AccountRole.APPLICANT in roles and merchant is not None and merchant.mid:
                s.execute(delete(AccountRoleGrant).where(AccountRoleGrant.account_id == account.id))
                s.add(AccountRoleGrant(account_id=account.id, role=AccountRole.OWNER))
                _audit(s, now, console_actor(account), "console applicant approved", account, 200,
                       None, {"mid": merchant.mid})  # fmt: skip
                s.flush()
            return _view(s, account)

    # --- applicants -------------------------------------------------------------------

    def sign_up(
        self,
        *,
        name: str,
        login: str,
        password: str,
        password_again: str,
        address: str | None = None,
    ) -> SignedIn:
        """A person makes their own account to apply for a POS (the portal's sign-up):
        their name, an email address or a mobile number (``login``), and a password
        typed twice, with the rules of every password. The account is an applicant's,
        of no merchant yet, and signed in at once. Every sign-up, and every one refused
        for a login taken or for too many from one address, is in the audit log; one
        address makes at most ``SIGN_UPS_PER_ADDRESS`` within ``SIGN_UP_WINDOW``."""
        name = valid_text("name", name, max_len=100)
        cleaned = login.strip()
        email, mobile = _login_fields(
            cleaned if "@" in cleaned else None, None if "@" in cleaned else cleaned
        )
        _check_password(password)
        if password != password_again:
            raise InvalidInput("account.passwords_differ", N_("The two passwords differ"))
        password_hash = hash_password(password)  # slow: before the write lock
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction() as s:
                result = self._sign_up(s, name, email, mobile, password_hash, address, now)
        except IntegrityError:  # the same login, signing up at the same moment
            raise _login_taken() from None
        if isinstance(result, Refused):
            raise result  # after its audit is committed
        return result

    def _sign_up(
        self,
        s: Session,
        name: str,
        email: str | None,
        mobile: str | None,
        password_hash: str,
        address: str | None,
        now: datetime,
    ) -> SignedIn | Refused:
        if address and self._sign_ups(s, address, now) >= SIGN_UPS_PER_ADDRESS:
            _audit(s, now, "console", f"{SIGN_UP} throttled", None, 429, address)
            return Refused(
                "account.sign_up_throttled",
                N_("Too many accounts made from here: try again in {minutes} minutes"),
                minutes=int(SIGN_UP_WINDOW.total_seconds() // 60),
            )
        login = email or mobile or ""
        same = Account.email == email if email is not None else Account.mobile == mobile
        taken = s.execute(select(Account.id).where(same)).first()
        if taken is not None:
            _audit(s, now, f"console:{login}", f"{SIGN_UP} refused", None, 409, address,
                   {"login": login})  # fmt: skip
            return _login_taken()
        account = Account(
            email=email, mobile=mobile, name=name, password_hash=password_hash,
            merchant_id=None, shop_id=None, locale=None, status=AccountStatus.ACTIVE,
            failed_sign_ins=0, must_change_password=False, created_by=f"console:{login}",
            created_at=now,
        )  # fmt: skip
        s.add(account)
        s.flush()
        s.add(AccountRoleGrant(account_id=account.id, role=AccountRole.APPLICANT))
        _audit(s, now, console_actor(account), SIGN_UP, account, 201, address)
        return self._start_session(s, account, address, now)

    def submit_application(
        self, account_id: int, application: Application, merchants: MerchantService
    ) -> MerchantView:
        """An applicant's own application: ``merchants.apply`` and the link of their
        account to the merchant it makes (``merchant_id``; no MID until approved), in
        one unit of work. An applicant has at most one open application: one who has
        applied is refused, unless their application was rejected (they may apply
        again; the account then names the new one)."""
        with self.ctx.db.read() as s:
            account = s.get_one(Account, account_id)
            actor = console_actor(account)
            _may_apply(s, account)

        def link(s: Session, merchant: Merchant) -> None:
            account = s.get_one(Account, account_id, with_for_update=True)
            _may_apply(s, account)  # again, under the lock: one open application
            account.merchant_id = merchant.id
            _audit(s, self.ctx.now(), actor, "console application submitted", account, 201,
                   None, {"application": merchant.id})  # fmt: skip

        return merchants.apply(application, actor, then=link)

    def set_locale(self, account_id: int, locale: str | None) -> AccountView:
        """A person's own language (``en``, ``zh_CN``), or None: their browser's."""
        locale = check_locale(locale)
        with self.ctx.db.transaction(invalidate=False) as s:
            account = s.get_one(Account, account_id)
            account.locale = locale
            return _view(s, account)

    def reset_password(self, ref: str, actor: str, *, within: int | None = None) -> NewAccount:
        """An admin's reset: a new password, shown once and to be changed at the next
        sign-in; the account is unlocked and signed out everywhere. ``within``: an
        owner's reset, of one of its merchant's people (``_person``)."""
        actor = check_actor(actor)
        password = new_password()
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = _find(s, ref, lock=True, within=within)
            account.password_hash = hash_password(password)
            account.must_change_password = True
            account.failed_sign_ins = 0
            if account.status is AccountStatus.LOCKED:
                account.status, account.locked_at = AccountStatus.ACTIVE, None
            s.execute(delete(WebSession).where(WebSession.account_id == account.id))
            _audit(s, now, actor, "console password reset", account, 200)
            return NewAccount(account=_view(s, account), password=password)

    def change_password(
        self, account_id: int, current: str, new: str, *, keep_session: str | None = None
    ) -> AccountView:
        """The person's own change: the current password first. Every session but the
        one named by ``keep_session`` (the browser making the change) ends."""
        _check_password(new)
        if current == new:
            raise InvalidInput("account.same_password", N_("Choose a new password"))
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = s.get_one(Account, account_id)
            right = verify_password(account.password_hash, current)
            if right:
                account.password_hash = hash_password(new)
                account.must_change_password = False
                s.execute(
                    delete(WebSession).where(
                        WebSession.account_id == account.id,
                        WebSession.token_hash != _token_hash(keep_session or ""),
                    )
                )
            action = "console password changed" if right else "console password change refused"
            _audit(s, now, console_actor(account), action, account, 200 if right else 403)
            view = _view(s, account)
        if not right:  # refused after the audit is committed
            raise Refused("account.wrong_password", N_("The current password is wrong"))
        return view

    # --- a merchant's own people (the portal) --------------------------------------------

    def people(
        self, merchant_id: int, *, after_id: int = 0, limit: int = 50
    ) -> tuple[AccountView, ...]:
        """The merchant's accounts (owners, managers, cashiers), oldest first."""
        check_limit(limit)
        query = (
            select(Account)
            .where(Account.merchant_id == merchant_id, Account.id > after_id)
            .order_by(Account.id)
            .limit(limit)
        )
        with self.ctx.db.read() as s:
            return tuple(_view(s, a) for a in s.scalars(query))

    def person(self, merchant_id: int, account_id: int) -> AccountView:
        """One of the merchant's accounts; another's (or staff's) is no account."""
        with self.ctx.db.read() as s:
            account = s.get(Account, account_id) if 0 < account_id < 2**31 else None
            if account is None or account.merchant_id != merchant_id:
                raise NotFound("account.not_found", N_("No account {ref}"), ref=account_id)
            return _view(s, account)

    def add_person(
        self,
        merchant_id: int,
        role: AccountRole,
        *,
        name: str,
        actor: str,
        email: str | None = None,
        mobile: str | None = None,
        shop_number: int | None = None,
    ) -> NewAccount:
        """An owner adds a cashier (of one of its shops) or a manager to its merchant;
        the password is made for them, shown once, and changed at their first sign-in.
        Owners are made by the acquirer's operations, never here."""
        if role not in PEOPLE_ROLES:
            raise InvalidInput(
                "account.person_role",
                N_("Add a cashier or a manager here; owners are made by operations"),
            )
        return self.create(name=name, roles={role}, actor=actor, email=email, mobile=mobile,
                           merchant_ref=str(merchant_id), shop_number=shop_number)  # fmt: skip

    # --- signing in -------------------------------------------------------------------

    def sign_in(
        self, login: str, password: str, address: str | None = None
    ) -> SignedIn | NeedsCode:
        """Check a login and password; a session when they match (or, for an account
        with a second factor, the half-session that ``sign_in_code`` completes). Every
        attempt is audited (and a refusal's counting and audit are kept: they commit
        before the refusal is raised); refusals say as little as they can."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            result = self._sign_in(s, login, password, address, now)
        if isinstance(result, Refused):
            raise result
        return result

    def _sign_in(
        self, s: Session, login: str, password: str, address: str | None, now: datetime
    ) -> SignedIn | NeedsCode | Refused:
        if (throttled := self._throttled(s, address, now)) is not None:
            return throttled
        account = _by_login(s, login, lock=True)
        if account is None:
            verify_password(_nobody(), password)  # as long as a wrong password takes
            _audit(s, now, "console", f"{SIGN_IN} failed", None, 401, address,
                   {"login": login[:100]})  # fmt: skip
            return _wrong()
        if (locked := _refuse_locked(s, account, address, now)) is not None:
            return locked
        if not verify_password(account.password_hash, password):
            _failed(s, account, address, now)
            return _wrong()
        if account.totp_confirmed_at is not None:
            # The count of failures goes on until the code is right too: a password
            # alone must not wipe the tries at the code.
            expires = now + HALF_SESSION
            _audit(s, now, console_actor(account), f"{SIGN_IN} password right", account, 200,
                   address)  # fmt: skip
            return NeedsCode(self._half_token(account, expires), expires)
        return self._start_session(s, account, address, now)

    def sign_in_code(self, half_token: str, code: str, address: str | None = None) -> SignedIn:
        """The second step of signing in: the half-session's token and a code of the
        account's second factor. A wrong code (or one used already) counts as a wrong
        password does, towards the lock."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            result = self._sign_in_code(s, half_token, code, address, now)
        if isinstance(result, Refused):
            raise result
        return result

    def _sign_in_code(
        self, s: Session, half_token: str, code: str, address: str | None, now: datetime
    ) -> SignedIn | Refused:
        if (throttled := self._throttled(s, address, now)) is not None:
            return throttled
        again = Refused("account.half_expired", N_("Sign in again: that took too long"))
        account_id = _half_account(half_token)
        account = s.get(Account, account_id, with_for_update=True) if account_id else None
        if account is None or not self._half_ok(half_token, account, now):
            return again
        if (locked := _refuse_locked(s, account, address, now)) is not None:
            return locked
        if account.totp_secret is None or account.totp_confirmed_at is None:
            return again
        secret = self.ctx.keystore.open_text(account.totp_secret, _totp_context(account.id))
        step = totp.matching_step(secret, code[:20], now, account.totp_last_step)
        if step is None:
            _failed(s, account, address, now, {"factor": "totp"})
            return Refused("account.wrong_code", N_("Wrong code, or a code used already"))
        account.totp_last_step = step
        return self._start_session(s, account, address, now, {"factor": "totp"})

    def _start_session(
        self,
        s: Session,
        account: Account,
        address: str | None,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> SignedIn:
        account.failed_sign_ins = 0
        account.last_sign_in_at = now
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session = WebSession(
            token_hash=_token_hash(token), account_id=account.id, csrf_token=csrf,
            address=address, created_at=now, last_seen_at=now, expires_at=now + SESSION_MAX,
        )  # fmt: skip
        s.add(session)
        _audit(s, now, console_actor(account), SIGN_IN, account, 200, address, detail)
        return SignedIn(token, csrf, _view(s, account), session.expires_at)

    def _throttled(self, s: Session, address: str | None, now: datetime) -> Refused | None:
        if address and self._address_failures(s, address, now) >= ADDRESS_FAILURES:
            _audit(s, now, "console", f"{SIGN_IN} throttled", None, 429, address)
            return Refused(
                "account.throttled",
                N_("Too many failed sign-ins from here: try again in {minutes} minutes"),
                minutes=int(ADDRESS_WINDOW.total_seconds() // 60),
            )
        return None

    # The half-session: "<account id>.<expiry, unix seconds>.<nonce>.<mac>", the MAC
    # keyed by the keystore over those and the password's hash (a new password voids it).

    def _half_mac(self, account: Account, expires: int, nonce: str) -> str:
        body = f"{account.id}.{expires}.{nonce}.{account.password_hash}"
        return self.ctx.keystore.token(body, kind="console-half-session")

    def _half_token(self, account: Account, expires_at: datetime) -> str:
        expires, nonce = int(expires_at.timestamp()), secrets.token_urlsafe(12)
        return f"{account.id}.{expires}.{nonce}.{self._half_mac(account, expires, nonce)}"

    def _half_ok(self, token: str, account: Account, now: datetime) -> bool:
        parts = token.split(".")
        if len(parts) != 4 or not parts[1].isdigit():
            return False
        expires, nonce, mac = int(parts[1]), parts[2], parts[3]
        right = self._half_mac(account, expires, nonce)
        return hmac.compare_digest(right.encode(), mac.encode()) and now.timestamp() < expires

    # --- a manager's approval at the till --------------------------------------------

    def approve(
        self,
        merchant_id: int,
        login: str,
        *,
        password: str | None = None,
        code: str | None = None,
        what: str = "store approval",
        address: str | None = None,
    ) -> AccountView:
        """A manager's approval of what a cashier may not do alone (a price changed, a
        large discount, a return): an owner or manager of ``merchant_id`` proves it is
        them, on the till, with their password or, better, a code of their second
        factor (TOTP, never taken twice). A wrong one counts towards the account's lock
        as a wrong sign-in does, and every attempt is in the audit log (committed before
        a refusal is raised)."""
        if (password is None) == (code is None):
            raise InvalidInput(
                "approval.secret",
                N_("A manager approves with a password or a code of their second factor"),
            )
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            result = self._approve(s, merchant_id, login, password, code, what, address, now)
        if isinstance(result, Refused):
            raise result
        return result

    def _approve(
        self,
        s: Session,
        merchant_id: int,
        login: str,
        password: str | None,
        code: str | None,
        what: str,
        address: str | None,
        now: datetime,
    ) -> AccountView | Refused:
        wrong = Refused(
            "approval.wrong", N_("Wrong login, password or code for a manager's approval")
        )
        if (throttled := self._throttled(s, address, now)) is not None:
            return throttled
        account = _by_login(s, login, lock=True)
        if account is None or account.merchant_id != merchant_id:
            if password is not None:
                verify_password(_nobody(), password)  # as long as a wrong password takes
            _audit(s, now, "store", f"{what} failed", None, 401, address,
                   {"login": login[:100]})  # fmt: skip
            return wrong
        if (locked := _refuse_locked(s, account, address, now)) is not None:
            return locked
        if password is not None:
            if not verify_password(account.password_hash, password[:MAX_PASSWORD]):
                _failed(s, account, address, now, {"approval": what})
                return wrong
        else:
            secret = (
                self.ctx.keystore.open_text(account.totp_secret, _totp_context(account.id))
                if account.totp_secret is not None and account.totp_confirmed_at is not None
                else None
            )
            step = totp.matching_step(secret, (code or "")[:20], now, account.totp_last_step) \
                if secret is not None else None  # fmt: skip
            if step is None:
                _failed(s, account, address, now, {"approval": what, "factor": "totp"})
                return wrong
            account.totp_last_step = step
        if not {AccountRole.OWNER, AccountRole.MANAGER} & set(_roles(s, account.id)):
            _audit(s, now, console_actor(account), f"{what} refused", account, 403, address)
            return Refused(
                "approval.not_manager",
                N_("Only an owner or a manager of the merchant can approve this"),
            )
        account.failed_sign_ins = 0
        _audit(s, now, console_actor(account), what, account, 200, address)
        return _view(s, account)

    # --- the second factor --------------------------------------------------------------

    def totp_begin(self, account_id: int) -> TotpSetup:
        """Start setting up a second factor: a new secret, not in force until a code
        from it is confirmed (``totp_confirm``). One in force is changed only after an
        admin's reset."""
        secret = totp.new_secret()
        with self.ctx.db.transaction() as s:
            account = s.get_one(Account, account_id, with_for_update=True)
            if account.totp_confirmed_at is not None:
                raise Refused(
                    "account.totp_on",
                    N_("Your second factor is on already: an administrator can reset it"),
                )
            account.totp_secret = self.ctx.keystore.seal_text(secret, _totp_context(account.id))
            account.totp_last_step = None
            return TotpSetup(secret, totp.provisioning_uri(secret, _login_of(account)))

    def totp_pending(self, account_id: int) -> TotpSetup | None:
        """The second factor being set up, not confirmed yet (None: none is)."""
        with self.ctx.db.read() as s:
            account = s.get_one(Account, account_id)
            if account.totp_secret is None or account.totp_confirmed_at is not None:
                return None
            secret = self.ctx.keystore.open_text(account.totp_secret, _totp_context(account.id))
            return TotpSetup(secret, totp.provisioning_uri(secret, _login_of(account)))

    def totp_confirm(self, account_id: int, code: str) -> AccountView:
        """Put the second factor being set up in force, with a code from it."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = s.get_one(Account, account_id, with_for_update=True)
            if account.totp_secret is None or account.totp_confirmed_at is not None:
                raise Refused("account.totp_not_started", N_("Start setting up the code first"))
            secret = self.ctx.keystore.open_text(account.totp_secret, _totp_context(account.id))
            step = totp.matching_step(secret, code[:20], now, account.totp_last_step)
            if step is None:
                raise InvalidInput(
                    "account.totp_code",
                    N_("That code is not right: check the time on your phone and try again"),
                )
            account.totp_confirmed_at, account.totp_last_step = now, step
            _audit(s, now, console_actor(account), "console totp enrolled", account, 200)
            return _view(s, account)

    def totp_reset(self, ref: str, actor: str) -> AccountView:
        """An admin's reset of a person's second factor (a lost phone): signing in
        takes the password alone until they set up a new one."""
        actor = check_actor(actor)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = _find(s, ref, lock=True)
            had = account.totp_secret is not None
            account.totp_secret = account.totp_confirmed_at = account.totp_last_step = None
            if had:
                _audit(s, now, actor, "console totp reset", account, 200)
            return _view(s, account)

    def session(self, token: str) -> SignedIn | None:
        """The session a cookie's token names, if it is still good (its account active,
        used within ``SESSION_IDLE``, younger than ``SESSION_MAX``)."""
        if not token or len(token) > 100:
            return None
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            row = s.execute(
                select(WebSession, Account)
                .join(Account, Account.id == WebSession.account_id)
                .where(WebSession.token_hash == _token_hash(token))
            ).first()
            if row is None:
                return None
            session, account = row
            if (
                account.status is not AccountStatus.ACTIVE
                or now >= session.expires_at
                or now - session.last_seen_at >= SESSION_IDLE
            ):
                return None
            signed_in = SignedIn(token, session.csrf_token, _view(s, account), session.expires_at)
            stale = now - session.last_seen_at >= SEEN_EVERY
        if stale:  # a write at most once a minute per session, not on every page
            with self.ctx.db.transaction(invalidate=False) as s:
                s.get_one(WebSession, session.token_hash).last_seen_at = now
        return signed_in

    def sign_out(self, token: str) -> None:
        with self.ctx.db.transaction(invalidate=False) as s:
            s.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))

    @staticmethod
    def csrf_ok(signed_in: SignedIn, presented: str | None) -> bool:
        """Whether a form or request echoed its session's CSRF token."""
        return bool(presented) and hmac.compare_digest(
            signed_in.csrf_token.encode(), (presented or "").encode()
        )

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _address_failures(s: Session, address: str, now: datetime) -> int:
        return int(
            s.scalar(
                select(func.count()).where(
                    AuditRecord.client_ip == address,
                    AuditRecord.action == f"{SIGN_IN} failed",
                    AuditRecord.at > now - ADDRESS_WINDOW,
                )
            )
            or 0
        )

    @staticmethod
    def _sign_ups(s: Session, address: str, now: datetime) -> int:
        """Accounts made, or tried, from ``address`` within the window."""
        return int(
            s.scalar(
                select(func.count()).where(
                    AuditRecord.client_ip == address,
                    AuditRecord.action.in_((SIGN_UP, f"{SIGN_UP} refused")),
                    AuditRecord.at > now - SIGN_UP_WINDOW,
                )
            )
            or 0
        )

    @staticmethod
    def _merchant_and_shop(
        s: Session, merchant_ref: str | None, shop_number: int | None
    ) -> tuple[Merchant | None, Shop | None]:
        if merchant_ref is None:
            return None, None
        merchant = find_merchant(s, merchant_ref)
        if merchant.mid is None:
            raise Refused(
                "account.merchant_not_approved",
                N_("Merchant {ref} is not approved: it has no users yet"),
                ref=merchant_ref,
            )
        if shop_number is None:
            return merchant, None
        shop = next((x for x in merchant.shops if x.number == shop_number), None)
        if shop is None:
            raise NotFound("shop.not_found", N_("No shop {number}"), number=shop_number)
        return merchant, shop


def _login_fields(email: str | None, mobile: str | None) -> tuple[str | None, str | None]:
    if email is None and mobile is None:
        raise InvalidInput("account.login", N_("Give an email address or a mobile number"))
    email_ = valid_email(email.strip().lower()) if email is not None else None
    mobile_ = None
    if mobile is not None:
        digits = mobile.strip().removeprefix("+86").replace(" ", "").replace("-", "")
        if not (len(digits) == 11 and digits.isascii() and digits.isdigit() and digits[0] == "1"):
            raise InvalidInput(
                "account.mobile", N_("{value!r} is not a mobile number"), value=mobile
            )
        mobile_ = digits
    return email_, mobile_


def _login_taken() -> Refused:
    return Refused(
        "account.exists", N_("An account with that email or mobile number exists already")
    )


def _may_apply(s: Session, account: Account) -> None:
    """Refused unless the account is an applicant's with no open application."""
    if AccountRole.APPLICANT not in _roles(s, account.id):
        raise Refused(
            "account.not_applicant", N_("Only a person applying for a POS sends an application")
        )
    if account.merchant_id is None:
        return
    status = s.scalar(select(Merchant.status).where(Merchant.id == account.merchant_id))
    if status is not MerchantStatus.REJECTED:
        raise Refused(
            "account.applied",
            N_("You have applied already: application #{ref} is {status}"),
            ref=account.merchant_id,
            status=status,
        )


def check_locale(value: str | None) -> str | None:
    """``en`` or ``zh_CN`` (``zh``, ``zh-CN`` ... too), or None/empty: the browser's."""
    if value is None or not value.strip():
        return None
    cleaned = value.strip().replace("-", "_")
    if cleaned.lower() in ("en", "zh", "zh_cn"):
        return normalise_locale(cleaned)
    raise InvalidInput("account.locale", N_("Language: en or zh_CN"))


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or not password.isprintable():
        raise InvalidInput(
            "account.password",
            N_("A password has {min} to {max} printable characters"),
            min=MIN_PASSWORD,
            max=MAX_PASSWORD,
        )


def _login_of(account: Account) -> str:
    return account.email or account.mobile or str(account.id)


def _totp_context(account_id: int) -> str:
    return f"account {account_id} totp"


def _half_account(token: str) -> int | None:
    head = token.split(".", 1)[0]
    return int(head) if head.isascii() and head.isdigit() and len(head) <= 9 else None


def _refuse_locked(
    s: Session, account: Account, address: str | None, now: datetime
) -> Refused | None:
    if account.status is AccountStatus.ACTIVE:
        return None
    _audit(s, now, console_actor(account), f"{SIGN_IN} refused", account, 423, address,
           {"status": account.status.value})  # fmt: skip
    return Refused(
        "account.locked",
        N_("This account is locked: ask an administrator to reset its password"),
    )


def _failed(
    s: Session,
    account: Account,
    address: str | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """A wrong password or code: counted, audited, and the account locked at the
    ``LOCK_AFTER``-th in a row."""
    account.failed_sign_ins += 1
    status = 401
    if account.failed_sign_ins >= LOCK_AFTER:
        account.status, account.locked_at = AccountStatus.LOCKED, now
        status = 423
        _audit(s, now, console_actor(account), "console account locked", account, 423,
               address, {"failures": account.failed_sign_ins})  # fmt: skip
    _audit(s, now, console_actor(account), f"{SIGN_IN} failed", account, status, address, detail)


def _wrong() -> Refused:
    return Refused("account.wrong", N_("Wrong login or password"))


def _by_login(s: Session, login: str, *, lock: bool = False) -> Account | None:
    cleaned = login.strip()
    if not 0 < len(cleaned) <= 254:
        return None
    digits = cleaned.removeprefix("+86")
    query = select(Account).where(or_(Account.email == cleaned.lower(), Account.mobile == digits))
    if lock:
        query = query.with_for_update()
    return s.execute(query).scalar_one_or_none()


def _find(s: Session, ref: str, *, lock: bool = False, within: int | None = None) -> Account:
    """An account by email, mobile number or id; with ``within`` (a merchant's id), one
    of that merchant's people an owner may change (``_person``)."""
    account = _by_login(s, ref, lock=lock)
    digits = ref.strip()
    if account is None and digits.isascii() and digits.isdigit() and len(digits) <= 10:
        number = int(digits)  # ids are 32-bit: a larger number is nobody's
        account = s.get(Account, number, with_for_update=lock) if number < 2**31 else None
    if account is None or (within is not None and account.merchant_id != within):
        raise NotFound("account.not_found", N_("No account {ref}"), ref=ref)
    if within is not None:
        _person(s, account)
    return account


def _person(s: Session, account: Account) -> None:
    """An owner changes its merchant's managers and cashiers, not an owner (itself
    included): owners are the acquirer's to manage. Another merchant's account, or
    staff's, is no account to it at all (``_find``)."""
    if AccountRole.OWNER in _roles(s, account.id):
        raise Refused(
            "account.owner_here",
            N_("An owner's account is managed by the acquirer's operations, not here"),
        )


def console_actor(account: AccountView | Account) -> str:
    """How histories and the audit log name a person acting in the browser."""
    return f"console:{account.email or account.mobile}"


def _audit(
    s: Session,
    at: datetime,
    actor: str,
    action: str,
    account: Account | None,
    status_code: int,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    s.add(
        AuditRecord(
            at=at, api_key_id=None, actor=actor[:100], action=action,
            merchant_id=account.merchant_id if account else None,
            target=f"account {account.id}" if account else None, status_code=status_code,
            client_ip=address, detail=detail,
        )
    )  # fmt: skip


def _roles(s: Session, account_id: int) -> tuple[AccountRole, ...]:
    held = select(AccountRoleGrant.role).where(AccountRoleGrant.account_id == account_id)
    return tuple(sorted(s.scalars(held)))


def _view(s: Session, a: Account) -> AccountView:
    roles = _roles(s, a.id)
    mid = (
        s.scalar(select(Merchant.mid).where(Merchant.id == a.merchant_id))
        if a.merchant_id
        else None
    )
    return AccountView(
        id=a.id, email=a.email, mobile=a.mobile, name=a.name, roles=roles,
        merchant_id=a.merchant_id, mid=mid, shop_id=a.shop_id, locale=a.locale,
        status=a.status, must_change_password=a.must_change_password,
        created_by=a.created_by, created_at=a.created_at, last_sign_in_at=a.last_sign_in_at,
        totp=a.totp_confirmed_at is not None,
    )  # fmt: skip
