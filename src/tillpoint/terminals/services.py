"""The terminal fleet: provisioning, binding (一机一户), lifecycle and operators.

Every public method is one unit of work.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.geo import degrees
from tillpoint.core.i18n import N_
from tillpoint.core.ids import check_tid
from tillpoint.core.models import next_counter
from tillpoint.core.paging import check_limit
from tillpoint.iso8583.mac import MacMethod
from tillpoint.merchants.limits import max_terminals
from tillpoint.merchants.models import Merchant, MerchantStatus, ShopStatus
from tillpoint.merchants.services import find_merchant, find_shop, merchant_label
from tillpoint.security import tdes
from tillpoint.security.passwords import hash_password, verify_password
from tillpoint.terminals.models import (
    BOUND_STATUSES,
    Capability,
    Operator,
    OperatorRole,
    Terminal,
    TerminalBatch,
    TerminalBinding,
    TerminalEvent,
    TerminalStatus,
)
from tillpoint.terminals.security import security_summary
from tillpoint.terminals.views import (
    Bound,
    OperatorView,
    Provisioned,
    TerminalEventView,
    TerminalPlaceView,
    TerminalView,
)

T = TerminalStatus
FIRST_ALLOCATED_TID = 20_000_001  # demo terminals use 1000000N
MAX_FAILED_LOGINS = 5
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{3,39}$")
_OPERATOR_CODE = re.compile(r"^(00|[0-9]{3})$")
DEFAULT_CAPABILITIES = (
    Capability.MAGSTRIPE,
    Capability.CHIP,
    Capability.CONTACTLESS,
    Capability.QR_CAMERA,
    Capability.PRINTER,
)


def find_terminal(
    s: Session, tid: str, *, lock: bool = False, within: int | None = None
) -> Terminal:
    """A terminal by TID; with ``within`` (a merchant's id), only one of that merchant's:
    another's is answered as no terminal at all, so a merchant learns nothing of it."""
    query = select(Terminal).where(Terminal.tid == check_tid(tid.strip()))
    if within is not None:
        query = query.where(Terminal.merchant_id == within)
    if lock:
        query = query.with_for_update()
    terminal = s.execute(query).scalar_one_or_none()
    if terminal is None:
        raise NotFound("terminal.not_found", N_("No terminal {tid}"), tid=tid)
    return terminal


def terminal_count(
    s: Session, *, merchant_id: int | None = None, shop_id: int | None = None
) -> int:
    """How many terminals are bound to the merchant (bound, shipped, active or frozen),
    or belong to the shop (any state): a merchant or a shop closes only without them."""
    query = select(func.count()).select_from(Terminal)
    if merchant_id is not None:
        query = query.where(Terminal.merchant_id == merchant_id,
                            Terminal.status.in_(BOUND_STATUSES))  # fmt: skip
    if shop_id is not None:
        query = query.where(Terminal.shop_id == shop_id)
    return s.scalar(query) or 0


class LastPayments(Protocol):
    """When each of some terminals last took a payment (the payments package reads it:
    the composition root hands the reader to the service)."""

    def __call__(self, s: Session, terminal_ids: list[int], /) -> dict[int, datetime]: ...


def no_payments(s: Session, terminal_ids: list[int], /) -> dict[int, datetime]:
    """For a service that shows no terminal's last payment (the sign-on's operator
    check)."""
    return {}


def tmk_context(terminal: Terminal) -> str:
    return f"terminal:{terminal.serial_no}:tmk"


def check_password(role: OperatorRole, password: str) -> str:
    digits = 6 if role is OperatorRole.SUPERVISOR else 4
    if not re.fullmatch(rf"[0-9]{{{digits}}}", password):
        raise InvalidInput(
            "operator.password_format",
            N_("A {role} password is exactly {digits} digits"),
            role=role,
            digits=digits,
        )
    return password


class TerminalService:
    def __init__(self, ctx: Context, last_payments: LastPayments) -> None:
        self.ctx = ctx
        self.last_payments = last_payments

    # --- provisioning -----------------------------------------------------------------

    def add(
        self,
        serial_no: str,
        model: str,
        actor: str,
        *,
        capabilities: Iterable[Capability] = DEFAULT_CAPABILITIES,
        mac_method: MacMethod = MacMethod.ECB,
        tid: str | None = None,
        tmk: bytes | None = None,
        require_operator_password: bool = True,
    ) -> Provisioned:
        """Take a terminal into stock and create its master key (TMK). The clear TMK is
        returned once for key injection; only its encrypted form is stored. A new
        terminal sells only once an operator has signed in with a password, unless
        ``require_operator_password`` is False (docs/terminals.md)."""
        actor = check_actor(actor)
        serial_no = serial_no.strip()
        if not _SERIAL.fullmatch(serial_no):
            raise InvalidInput(
                "terminal.malformed_serial",
                N_("A serial number is 4-40 letters, digits, '-' or '_'"),
            )
        model = " ".join(model.split())
        if not 1 <= len(model) <= 40:
            raise InvalidInput("terminal.malformed_model", N_("A model name is 1-40 characters"))
        caps = sorted({Capability(c).value for c in capabilities})
        key = tdes.generate_key() if tmk is None else tdes.with_odd_parity(tmk)
        kcv = tdes.kcv(key).hex().upper()
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            if s.execute(select(Terminal.id).where(Terminal.serial_no == serial_no)).first():
                raise Refused(
                    "terminal.duplicate_serial",
                    N_("A terminal with serial number {serial} already exists"),
                    serial=serial_no,
                )
            if tid is None:
                tid = self._allocate_tid(s)
            elif s.execute(select(Terminal.id).where(Terminal.tid == check_tid(tid))).first():
                raise Refused("terminal.duplicate_tid", N_("TID {tid} is taken"), tid=tid)
            t = Terminal(
                tid=tid,
                serial_no=serial_no,
                model=model,
                capabilities=caps,
                mac_method=mac_method,
                status=T.IN_STOCK,
                tmk_kcv=kcv,
                created_at=now,
                tmk_enc=b"",
                require_operator_password=require_operator_password,
            )
            t.tmk_enc = self.ctx.keystore.wrap_key(key, tmk_context(t))
            s.add(t)
            s.flush()
            self._record(s, t, None, T.IN_STOCK, actor, None)
            return Provisioned(terminal=self._view(s, t), tmk_hex=key.hex().upper(), tmk_kcv=kcv)

    def rekey(self, tid: str, actor: str, reason: str) -> Provisioned:
        """A new TMK (a device was repaired, or its key may have leaked); shown once."""
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        key = tdes.generate_key()
        with self.ctx.db.transaction() as s:
            t = find_terminal(s, tid, lock=True)
            if t.status is T.RETIRED:
                raise Refused("terminal.retired", N_("Terminal {tid} is retired"), tid=t.tid)
            t.tmk_enc = self.ctx.keystore.wrap_key(key, tmk_context(t))
            t.tmk_kcv = tdes.kcv(key).hex().upper()
            self._record(s, t, t.status, t.status, actor, f"new TMK: {why}")
            return Provisioned(
                terminal=self._view(s, t), tmk_hex=key.hex().upper(), tmk_kcv=t.tmk_kcv
            )

    def require_operator_password(
        self, tid: str, required: bool, actor: str, reason: str
    ) -> TerminalView:
        """Whether selling at the terminal needs an operator signed in with a password.
        Takes effect at the terminal's next sign-on; recorded in its history."""
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        with self.ctx.db.transaction() as s:
            t = find_terminal(s, tid, lock=True)
            if t.require_operator_password != required:
                t.require_operator_password = required
                rule = "operator password required" if required else "no operator password"
                self._record(s, t, t.status, t.status, actor, f"{rule}: {why}")
            return self._view(s, t)

    def master_key(self, s: Session, t: Terminal) -> bytes:
        """The clear TMK, for the security module's use only (sign-on key exchange)."""
        return self.ctx.keystore.unwrap_key(t.tmk_enc, tmk_context(t))

    # --- binding ----------------------------------------------------------------------

    def bind(
        self,
        tid: str,
        merchant_ref: str,
        actor: str,
        *,
        shop: int | None = None,
        supervisor_password: str | None = None,
    ) -> Bound:
        """Bind a terminal in stock to one approved merchant and one of its shops. The
        supervisor (00) gets a new random password, returned once, unless one is given."""
        if supervisor_password is not None:
            check_password(OperatorRole.SUPERVISOR, supervisor_password)
        actor = check_actor(actor)
        with self.ctx.db.transaction() as s:
            t = find_terminal(s, tid, lock=True)
            m = find_merchant(s, merchant_ref, lock=True)
            password = self.bind_in(s, t, m, shop, actor, supervisor_password)
            return Bound(terminal=self._view(s, t), supervisor_password=password)

    def bind_in(
        self,
        s: Session,
        t: Terminal,
        m: Merchant,
        shop: int | None,
        actor: str,
        supervisor_password: str | None,
    ) -> str:
        """``bind`` within a unit of work that has the terminal and the merchant locked
        (a request for a terminal is fulfilled this way); the supervisor's password."""
        if t.merchant_id is not None:
            owner = s.get(Merchant, t.merchant_id)
            if t.merchant_id == m.id:
                raise Refused(
                    "terminal.already_bound_here",
                    N_("Terminal {tid} is already bound to merchant {mid}"),
                    tid=t.tid,
                    mid=merchant_label(m),
                )
            raise Refused(
                "terminal.bound_elsewhere",
                N_(
                    "Terminal {tid} is bound to merchant {owner}: one terminal serves one "
                    "merchant, so unbind it (with a reason) before binding it elsewhere"
                ),
                tid=t.tid,
                owner=merchant_label(owner) if owner else "?",
            )
        if t.status is not T.IN_STOCK:
            raise Refused(
                "terminal.not_in_stock",
                N_("Terminal {tid} is {status}: only terminals in stock can be bound"),
                tid=t.tid,
                status=t.status,
            )
        if m.status is not MerchantStatus.APPROVED:
            raise Refused(
                "terminal.merchant_not_approved",
                N_("Merchant {ref} is {status}: only approved merchants get terminals"),
                ref=merchant_label(m),
                status=m.status,
            )
        have = s.scalar(
            select(func.count()).select_from(Terminal).where(Terminal.merchant_id == m.id)
        )
        allowed = max_terminals(s, m)
        if (have or 0) >= allowed:
            raise Refused(
                "terminal.merchant_limit",
                N_(
                    "Merchant {ref} ({kind}) may have at most {allowed} terminal(s) "
                    "and already has {have}"
                ),
                ref=merchant_label(m),
                kind=m.kind,
                allowed=allowed,
                have=have,
            )
        target = find_shop(s, m, shop)
        if target.status is not ShopStatus.OPEN:
            raise Refused(
                "terminal.shop_closed", N_("Shop {number} is closed"), number=target.number
            )
        now = self.ctx.now()
        t.merchant_id, t.shop_id, t.bound_at = m.id, target.id, now
        self._set_status(s, t, T.BOUND, actor, None)
        s.add(
            TerminalBinding(
                terminal_id=t.id,
                merchant_id=m.id,
                shop_id=target.id,
                bound_at=now,
                bound_by=actor,
            )
        )
        password = supervisor_password or f"{secrets.randbelow(10**6):06d}"
        s.add(
            Operator(
                terminal_id=t.id,
                code="00",
                role=OperatorRole.SUPERVISOR,
                name=None,
                password_hash=hash_password(password),
                failed_attempts=0,
                locked=False,
                created_at=now,
            )
        )
        s.flush()
        return password

    def unbind(self, tid: str, actor: str, reason: str) -> TerminalView:
        """Take a terminal back from its merchant: refused while its batch is unsettled.
        Its operators go with the merchant; it returns to stock."""
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        with self.ctx.db.transaction() as s:
            t = find_terminal(s, tid, lock=True)
            if t.merchant_id is None:
                raise Refused("terminal.not_bound", N_("Terminal {tid} is not bound"), tid=t.tid)
            open_batch = s.execute(
                select(TerminalBatch.batch_no).where(
                    TerminalBatch.terminal_id == t.id,
                    TerminalBatch.settled_at.is_(None),
                    TerminalBatch.txn_count > 0,
                )
            ).first()
            if open_batch is not None:
                raise Refused(
                    "terminal.unsettled_batch",
                    N_("Terminal {tid} has unsettled batch {batch}: settle it before unbinding"),
                    tid=t.tid,
                    batch=open_batch[0],
                )
            binding = s.execute(
                select(TerminalBinding).where(
                    TerminalBinding.terminal_id == t.id, TerminalBinding.unbound_at.is_(None)
                )
            ).scalar_one()
            binding.unbound_at, binding.unbound_by, binding.unbind_reason = (
                self.ctx.now(),
                actor,
                why,
            )
            for op in s.scalars(select(Operator).where(Operator.terminal_id == t.id)):
                s.delete(op)
            t.merchant_id = t.shop_id = None
            t.bound_at = t.shipped_at = t.activated_at = None
            self._set_status(s, t, T.IN_STOCK, actor, why)
            return self._view(s, t)

    # --- lifecycle --------------------------------------------------------------------

    def ship(self, tid: str, actor: str, note: str | None = None) -> TerminalView:
        return self._lifecycle(tid, actor, note, (T.BOUND,), T.SHIPPED, "shipped_at")

    def activate(self, tid: str, actor: str = "host") -> TerminalView:
        """First successful sign-on: the terminal is in service."""
        return self._lifecycle(tid, actor, None, (T.BOUND, T.SHIPPED), T.ACTIVE, "activated_at")

    def freeze(self, tid: str, actor: str, reason: str) -> TerminalView:
        check_reason(reason, required=True)
        return self._lifecycle(tid, actor, reason, (T.BOUND, T.SHIPPED, T.ACTIVE), T.FROZEN, None)

    def unfreeze(self, tid: str, actor: str, reason: str) -> TerminalView:
        """Back to where it was before freezing, which its timestamps tell."""
        check_reason(reason, required=True)
        with self.ctx.db.read() as s:
            t = find_terminal(s, tid)
            back = T.ACTIVE if t.activated_at else T.SHIPPED if t.shipped_at else T.BOUND
        return self._lifecycle(tid, actor, reason, (T.FROZEN,), back, None)

    def retire(self, tid: str, actor: str, reason: str) -> TerminalView:
        check_reason(reason, required=True)
        return self._lifecycle(tid, actor, reason, (T.IN_STOCK,), T.RETIRED, None)

    # --- reading ----------------------------------------------------------------------

    def get(self, tid: str, *, within: int | None = None) -> TerminalView:
        """One terminal, with its security events' counts (``security``); with
        ``within``, only one of that merchant's (``find_terminal``)."""
        with self.ctx.db.read() as s:
            t = find_terminal(s, tid, within=within)
            return self._view(s, t).model_copy(
                update={
                    "security": security_summary(s, t.id),
                    "last_payment_at": self.last_payments(s, [t.id]).get(t.id),
                }
            )

    def search(
        self,
        *,
        status: TerminalStatus | None = None,
        merchant_ref: str | None = None,
        text: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[TerminalView]:
        """Terminals in id order after ``after_id``, with their latest sign-on and
        payment. ``text`` finds a TID, or serial numbers by their beginning."""
        check_limit(limit)
        query = select(Terminal).where(Terminal.id > after_id).order_by(Terminal.id).limit(limit)
        if status is not None:
            query = query.where(Terminal.status == status)
        text = (text or "").strip()[:40]
        if text:
            query = query.where(
                or_(Terminal.tid == text, Terminal.serial_no.startswith(text, autoescape=True))
            )
        with self.ctx.db.read() as s:
            if merchant_ref is not None:
                query = query.where(Terminal.merchant_id == find_merchant(s, merchant_ref).id)
            terminals = list(s.scalars(query))
            # The page's merchants and their shops in two reads, not two per terminal:
            # ``_view`` then finds them in the session, which keeps them only while
            # something else does (``owners``).
            ids = {t.merchant_id for t in terminals if t.merchant_id is not None}
            owners = s.scalars(
                select(Merchant).where(Merchant.id.in_(ids)).options(selectinload(Merchant.shops))
            ).all()
            paid = self.last_payments(s, [t.id for t in terminals])
            views = [
                self._view(s, t).model_copy(update={"last_payment_at": paid.get(t.id)})
                for t in terminals
            ]
            del owners
            return views

    def history(self, tid: str) -> list[TerminalEventView]:
        with self.ctx.db.read() as s:
            t = find_terminal(s, tid)
            events = s.scalars(
                select(TerminalEvent)
                .where(TerminalEvent.terminal_id == t.id)
                .order_by(TerminalEvent.id)
            )
            return [TerminalEventView.model_validate(e) for e in events]

    # --- operators --------------------------------------------------------------------

    # Each operator method takes ``within``, a merchant's id: then it acts on that
    # merchant's terminals only, and another's TID is no terminal (the portal's use).

    def add_operator(
        self,
        tid: str,
        code: str,
        password: str,
        actor: str,
        name: str | None = None,
        *,
        within: int | None = None,
    ) -> OperatorView:
        check_actor(actor)
        if not _OPERATOR_CODE.fullmatch(code) or code == "000":
            raise InvalidInput(
                "operator.code_format",
                N_("An operator code is 001-999 (00 is the supervisor)"),
            )
        role = OperatorRole.SUPERVISOR if code == "00" else OperatorRole.OPERATOR
        check_password(role, password)
        with self.ctx.db.transaction() as s:
            t = find_terminal(s, tid, lock=True, within=within)
            if t.merchant_id is None:
                raise Refused(
                    "operator.terminal_unbound",
                    N_("Terminal {tid} is not bound: operators belong to a merchant's terminal"),
                    tid=t.tid,
                )
            taken = select(Operator.id).where(Operator.terminal_id == t.id, Operator.code == code)
            if s.execute(taken).first() is not None:
                raise Refused(
                    "operator.exists",
                    N_("Terminal {tid} already has operator {code}"),
                    tid=t.tid,
                    code=code,
                )
            op = Operator(
                terminal_id=t.id,
                code=code,
                role=role,
                name=" ".join(name.split())[:100] if name else None,
                password_hash=hash_password(password),
                failed_attempts=0,
                locked=False,
                created_at=self.ctx.now(),
            )
            s.add(op)
            s.flush()
            return OperatorView.model_validate(op)

    def set_operator_password(
        self, tid: str, code: str, password: str, actor: str, *, within: int | None = None
    ) -> OperatorView:
        """A new password; also clears a lock-out."""
        check_actor(actor)
        with self.ctx.db.transaction() as s:
            op = self._operator(s, find_terminal(s, tid, within=within), code)
            op.password_hash = hash_password(check_password(op.role, password))
            op.failed_attempts, op.locked = 0, False
            return OperatorView.model_validate(op)

    def remove_operator(
        self, tid: str, code: str, actor: str, *, within: int | None = None
    ) -> None:
        check_actor(actor)
        if code == "00":
            raise Refused(
                "operator.supervisor_required",
                N_("The supervisor (00) cannot be removed; change its password instead"),
            )
        with self.ctx.db.transaction() as s:
            s.delete(self._operator(s, find_terminal(s, tid, within=within), code))

    def list_operators(self, tid: str, *, within: int | None = None) -> list[OperatorView]:
        with self.ctx.db.read() as s:
            t = find_terminal(s, tid, within=within)
            ops = s.scalars(
                select(Operator).where(Operator.terminal_id == t.id).order_by(Operator.code)
            )
            return [OperatorView.model_validate(o) for o in ops]

    def verify_operator(self, tid: str, code: str, password: str) -> bool:
        """Operator sign-in. Five wrong passwords in a row lock the operator until the
        supervisor (or operations) sets a new password. The slow hash is checked outside
        the write transaction, so a sign-in never holds up the terminal host's writes."""
        with self.ctx.db.read() as s:
            op = self._operator(s, find_terminal(s, tid), code)
            op_id, stored, locked = op.id, op.password_hash, op.locked
        if locked:
            raise Refused(
                "operator.locked",
                N_("Operator {code} is locked after too many wrong passwords"),
                code=code,
            )
        ok = verify_password(stored, password)
        with self.ctx.db.transaction() as s:
            op = s.get_one(Operator, op_id, with_for_update=True)
            if op.password_hash != stored:  # the password changed meanwhile: try again
                return False
            if ok and not op.locked:
                op.failed_attempts = 0
                return True
            op.failed_attempts += 1
            op.locked = op.failed_attempts >= MAX_FAILED_LOGINS
            return False

    # --- internals --------------------------------------------------------------------

    def _lifecycle(
        self,
        tid: str,
        actor: str,
        reason: str | None,
        allowed: tuple[TerminalStatus, ...],
        to: TerminalStatus,
        stamp: str | None,
    ) -> TerminalView:
        actor = check_actor(actor)
        why = check_reason(reason, required=False)
        with self.ctx.db.transaction() as s:
            t = find_terminal(s, tid, lock=True)
            if t.status not in allowed:
                raise Refused(
                    "terminal.bad_transition",
                    N_("Terminal {tid} is {status}: it cannot become {to}"),
                    tid=t.tid,
                    status=t.status,
                    to=to,
                )
            if stamp is not None:
                setattr(t, stamp, self.ctx.now())
            self._set_status(s, t, to, actor, why)
            return self._view(s, t)

    def _set_status(
        self, s: Session, t: Terminal, to: TerminalStatus, actor: str, reason: str | None
    ) -> None:
        self._record(s, t, t.status, to, actor, reason)
        t.status, t.status_reason = to, reason
        s.flush()

    def _record(
        self,
        s: Session,
        t: Terminal,
        frm: TerminalStatus | None,
        to: TerminalStatus,
        actor: str,
        reason: str | None,
    ) -> None:
        s.add(
            TerminalEvent(
                terminal_id=t.id,
                from_status=frm,
                to_status=to,
                actor=actor,
                reason=reason,
                at=self.ctx.now(),
            )
        )

    @staticmethod
    def _operator(s: Session, t: Terminal, code: str) -> Operator:
        op = s.execute(
            select(Operator).where(Operator.terminal_id == t.id, Operator.code == code)
        ).scalar_one_or_none()
        if op is None:
            raise NotFound(
                "operator.not_found",
                N_("Terminal {tid} has no operator {code}"),
                tid=t.tid,
                code=code,
            )
        return op

    @staticmethod
    def _allocate_tid(s: Session) -> str:
        while True:
            n = next_counter(s, "tid", start=FIRST_ALLOCATED_TID)
            if n > 99_999_999:
                raise Refused("terminal.tid_exhausted", N_("No TID is left to allocate"))
            tid = f"{n:08d}"
            if s.execute(select(Terminal.id).where(Terminal.tid == tid)).first() is None:
                return tid

    @staticmethod
    def _view(s: Session, t: Terminal) -> TerminalView:
        merchant = s.get(Merchant, t.merchant_id) if t.merchant_id is not None else None
        shop_number = None
        if merchant is not None:
            shop_number = next((x.number for x in merchant.shops if x.id == t.shop_id), None)
        return TerminalView(
            id=t.id,
            tid=t.tid,
            serial_no=t.serial_no,
            model=t.model,
            capabilities=list(t.capabilities),
            mac_method=t.mac_method,
            status=t.status,
            status_reason=t.status_reason,
            mid=merchant.mid if merchant else None,
            merchant_name=merchant.display_name if merchant else None,
            shop_number=shop_number,
            tmk_kcv=t.tmk_kcv,
            created_at=t.created_at,
            bound_at=t.bound_at,
            shipped_at=t.shipped_at,
            activated_at=t.activated_at,
            require_operator_password=t.require_operator_password,
            last_sign_on_at=t.last_sign_on_at,
            place=place_view(t),
        )


def place_view(t: Terminal) -> TerminalPlaceView | None:
    """Where the terminal last said it was, or None when nothing was ever recorded."""
    if t.source_seen_at is None and t.place_reported_at is None:
        return None
    lat, lon = t.place_latitude_e6, t.place_longitude_e6
    return TerminalPlaceView(
        device_type=t.place_device_type,
        serial_no=t.place_serial_no,
        latitude=None if lat is None else degrees(lat),
        longitude=None if lon is None else degrees(lon),
        cell=t.place_cell,
        ip=t.place_ip,
        reported_at=t.place_reported_at,
        source_address=t.source_address,
        source_seen_at=t.source_seen_at,
    )
