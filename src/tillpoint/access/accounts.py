"""People's accounts for the browser (console, portal, cashier): made by an admin or the
CLI, signed in by email or mobile number and password, kept signed in by a session.

- Passwords are Argon2id hashes; at least ``MIN_PASSWORD`` characters. One made for a
  person (a new account without a password, a reset) is shown once and must be changed
  at the next sign-in.
- ``LOCK_AFTER`` wrong passwords in a row lock the account until an admin resets it;
  one address that fails ``ADDRESS_FAILURES`` times within ``ADDRESS_WINDOW`` is refused
  for the rest of the window, whatever login it tries. Every sign-in, failed or not,
  every lock and every reset is in the audit log.
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

from tillpoint.access.models import (
    MERCHANT_ROLES,
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
from tillpoint.core.i18n import LOCALES, N_, normalise_locale
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.merchants.services import find_merchant
from tillpoint.merchants.validation import email as valid_email
from tillpoint.merchants.validation import text as valid_text
from tillpoint.security.passwords import hash_password, verify_password

MIN_PASSWORD = 10
MAX_PASSWORD = 200
LOCK_AFTER = 5  # wrong passwords in a row
ADDRESS_FAILURES = 20  # failed sign-ins from one address within the window
ADDRESS_WINDOW = timedelta(minutes=10)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
SEEN_EVERY = timedelta(minutes=1)  # how stale a session's last_seen_at may get
SIGN_IN = "console sign_in"


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
    locale: str
    status: AccountStatus
    must_change_password: bool
    created_by: str
    created_at: datetime
    last_sign_in_at: datetime | None

    @property
    def login(self) -> str:
        return self.email or self.mobile or ""

    @property
    def staff(self) -> bool:
        return bool(set(self.roles) & STAFF_ROLES)

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
        locale: str = "zh_CN",
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
        if normalise_locale(locale) not in LOCALES:
            raise InvalidInput("account.locale", N_("Language: en or zh_CN"))
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction() as s:
                merchant, shop = self._merchant_and_shop(s, merchant_ref, shop_number)
                account = Account(
                    email=email_, mobile=mobile_, name=name, password_hash=password_hash,
                    merchant_id=merchant.id if merchant else None,
                    shop_id=shop.id if shop else None, locale=normalise_locale(locale),
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

    def list(self, *, after_id: int = 0, limit: int = 50) -> list[AccountView]:
        check_limit(limit)
        with self.ctx.db.read() as s:
            rows = s.scalars(
                select(Account).where(Account.id > after_id).order_by(Account.id).limit(limit)
            )
            return [_view(s, a) for a in rows]

    def reset_password(self, ref: str, actor: str) -> NewAccount:
        """An admin's reset: a new password, shown once and to be changed at the next
        sign-in; the account is unlocked and signed out everywhere."""
        actor = check_actor(actor)
        password = new_password()
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            account = _find(s, ref, lock=True)
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

    # --- signing in -------------------------------------------------------------------

    def sign_in(self, login: str, password: str, address: str | None = None) -> SignedIn:
        """Check a login and password; a session when they match. Every attempt is
        audited (and a refusal's counting and audit are kept: they commit before the
        refusal is raised); refusals say as little as they can."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            result = self._sign_in(s, login, password, address, now)
        if isinstance(result, Refused):
            raise result
        return result

    def _sign_in(
        self, s: Session, login: str, password: str, address: str | None, now: datetime
    ) -> SignedIn | Refused:
        if address and self._address_failures(s, address, now) >= ADDRESS_FAILURES:
            _audit(s, now, "console", f"{SIGN_IN} throttled", None, 429, address)
            return Refused(
                "account.throttled",
                N_("Too many failed sign-ins from here: try again in {minutes} minutes"),
                minutes=int(ADDRESS_WINDOW.total_seconds() // 60),
            )
        account = _by_login(s, login, lock=True)
        if account is None:
            verify_password(_nobody(), password)  # as long as a wrong password takes
            _audit(s, now, "console", f"{SIGN_IN} failed", None, 401, address,
                   {"login": login[:100]})  # fmt: skip
            return _wrong()
        if account.status is not AccountStatus.ACTIVE:
            _audit(s, now, console_actor(account), f"{SIGN_IN} refused", account, 423, address,
                   {"status": account.status.value})  # fmt: skip
            return Refused(
                "account.locked",
                N_("This account is locked: ask an administrator to reset its password"),
            )
        if not verify_password(account.password_hash, password):
            account.failed_sign_ins += 1
            status = 401
            if account.failed_sign_ins >= LOCK_AFTER:
                account.status, account.locked_at = AccountStatus.LOCKED, now
                status = 423
                _audit(s, now, console_actor(account), "console account locked", account, 423,
                       address, {"failures": account.failed_sign_ins})  # fmt: skip
            _audit(s, now, console_actor(account), f"{SIGN_IN} failed", account, status, address)
            return _wrong()
        account.failed_sign_ins = 0
        account.last_sign_in_at = now
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session = WebSession(
            token_hash=_token_hash(token), account_id=account.id, csrf_token=csrf,
            address=address, created_at=now, last_seen_at=now, expires_at=now + SESSION_MAX,
        )  # fmt: skip
        s.add(session)
        _audit(s, now, console_actor(account), SIGN_IN, account, 200, address)
        return SignedIn(token, csrf, _view(s, account), session.expires_at)

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


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or not password.isprintable():
        raise InvalidInput(
            "account.password",
            N_("A password has {min} to {max} printable characters"),
            min=MIN_PASSWORD,
            max=MAX_PASSWORD,
        )


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


def _find(s: Session, ref: str, *, lock: bool = False) -> Account:
    """An account by email, mobile number or id."""
    account = _by_login(s, ref, lock=lock)
    if account is None and ref.strip().isascii() and ref.strip().isdigit():
        account = s.get(Account, int(ref.strip()), with_for_update=lock)
    if account is None:
        raise NotFound("account.not_found", N_("No account {ref}"), ref=ref)
    return account


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


def _view(s: Session, a: Account) -> AccountView:
    roles = tuple(
        sorted(s.scalars(select(AccountRoleGrant.role).where(AccountRoleGrant.account_id == a.id)))
    )
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
    )  # fmt: skip
