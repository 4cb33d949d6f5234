"""Terminal sign-on (签到) and sign-off (签退): the host side of spec section 4.1-4.2.

Sign-on gives a terminal fresh PIK, MAK and TDK, each encrypted under its TMK and
followed by its check value, and tells it which batch to use. The keys of any earlier
sign-on stop working at once. The host's sign-on (``authenticated_sign_on``) first
checks the request's MAC under the TMK, the throttle of failed sign-ons, and the
operator; a sign-on that fails any of them changes nothing. Every message that moves
money is first checked by ``admit``: the terminal is known, bound, not frozen, signed
on, and names its own merchant in field 42.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.cache import ReadCache
from tillpoint.core.errors import InvalidInput, InvariantViolation, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.ids import check_tid
from tillpoint.core.models import next_counter, next_rrn
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.mac import MacMethod, compute_mac
from tillpoint.merchants.models import Merchant, MerchantKind, MerchantStatus
from tillpoint.security import tdes
from tillpoint.terminals.models import (
    FailureReason,
    Operator,
    SecurityEventKind,
    Terminal,
    TerminalBatch,
    TerminalEvent,
    TerminalStatus,
    WorkingKeys,
)
from tillpoint.terminals.places import TerminalPlaces
from tillpoint.terminals.security import TerminalSecurity, source_address
from tillpoint.terminals.services import TerminalService, find_terminal, no_payments, tmk_context

T = TerminalStatus
KEY_BLOCK_BYTES = 60  # PIK(16) KCV(4) MAK(16) KCV(4) TDK(16) KCV(4)
FIRST_BATCH = 1
LAST_BATCH = 999_999


# Everything an admission depends on, read in one statement: when it has not changed, an
# admission kept in memory is still good (no keys to decrypt again, no objects to load).
_ADMISSION_STATE = (
    select(
        Terminal.id,
        Terminal.status,
        Terminal.merchant_id,
        Terminal.shop_id,
        Terminal.mac_method,
        Merchant.status,
        Merchant.mid,
        Merchant.mcc,
        Merchant.kind,
        Terminal.require_operator_password,
        WorkingKeys.generation,
        WorkingKeys.operator_verified,
        select(TerminalBatch.id)
        .where(TerminalBatch.terminal_id == Terminal.id, TerminalBatch.settled_at.is_(None))
        .scalar_subquery(),
    )
    .outerjoin(Merchant, Merchant.id == Terminal.merchant_id)
    .outerjoin(WorkingKeys, WorkingKeys.terminal_id == Terminal.id)
    .where(Terminal.tid == bindparam("tid"))
)


class MustOpenBatch(Exception):
    """Admitting the terminal needs a write (its next batch), which was not allowed."""


class HostRefusal(Refused):
    """A terminal the host will not serve; ``response_code`` is what field 39 says."""

    def __init__(self, response_code: str, code: str, message: str, /, **params: object) -> None:
        super().__init__(code, message, **params)
        self.response_code = response_code


@dataclass(frozen=True)
class SignOn:
    terminal_id: int
    batch_no: str
    key_block: bytes  # what goes into field 62
    generation: int
    rrn: str


@dataclass(frozen=True)
class SignOnProof:
    """What proves a sign-on came from the terminal: the MAC block of its 0800 and its
    field 64 (None when absent), and the address its connection came from."""

    mac_block: bytes | None
    mac: bytes | None
    source_address: str


@dataclass(frozen=True)
class Admitted:
    """A terminal cleared to send a message, with its clear working keys (in memory
    only, for this message) and where it belongs."""

    terminal_id: int
    tid: str
    merchant_id: int
    shop_id: int
    batch_id: int
    batch_no: str
    pik: bytes = field(repr=False)  # keys never in a repr, a log line or a traceback
    mak: bytes = field(repr=False)
    tdk: bytes = field(repr=False)
    generation: int
    mac_method: MacMethod
    mid: str
    mcc: str
    merchant_kind: MerchantKind
    # False while the terminal requires an operator password and none was checked at
    # this sign-on: the terminal may not move money until an operator signs in.
    operator_signed_in: bool = True
    state: tuple[object, ...] | None = field(default=None, repr=False, compare=False)


def _keys_context(t: Terminal, role: str, generation: int) -> str:
    return f"terminal:{t.serial_no}:{role}:{generation}"


class SignOnService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.security = TerminalSecurity(ctx)
        self.places = TerminalPlaces(ctx)
        self._admitted: ReadCache[str, Admitted] = ReadCache(ctx.db)

    def authenticated_sign_on(
        self,
        tid: str,
        mid: str,
        operator_code: str,
        proof: SignOnProof,
        password_block: bytes | None = None,
        *,
        place: f.Place | None = None,
    ) -> SignOn:
        """The host's sign-on (spec 4.1): in this order, the terminal checks (``97``,
        ``03``, ``58``); the address's throttle (``A0`` unchecked while it runs); the MAC
        of the 0800 under the TMK (``A0``, recorded as a security event); the operator
        (``75`` locked, with or without a password; with field 52 the password, ``55``);
        then fresh keys, and the terminal's reported ``place`` (field 59) and source
        address with them. Every refusal leaves the working keys in use as they were,
        and the place stored."""
        address = source_address(proof.source_address)
        with self.ctx.db.read() as s:
            t, _ = self._serviceable(s, tid, mid)
            terminal_id, method = t.id, t.mac_method
            tmk = self.ctx.keystore.unwrap_key(t.tmk_enc, tmk_context(t))
            held = self.security.throttled(s, t.id, SecurityEventKind.SIGN_ON_FAILED, address)
            locked = s.execute(
                select(Operator.locked).where(
                    Operator.terminal_id == t.id, Operator.code == operator_code
                )
            ).scalar_one_or_none()
        if held is not None:
            raise HostRefusal(
                "A0",
                "host.sign_on_throttled",
                N_("Sign-ons of terminal {tid} from {address} are held back until {until}"),
                tid=tid,
                address=address,
                until=held.isoformat(timespec="seconds"),
            )
        reason = None
        if proof.mac is None or proof.mac_block is None:
            reason = FailureReason.NO_MAC
        elif not tdes.macs_equal(proof.mac, compute_mac(method, tmk, proof.mac_block)):
            reason = FailureReason.BAD_MAC
        if reason is not None:
            self.security.record_failure(
                terminal_id, tid, SecurityEventKind.SIGN_ON_FAILED, address, reason
            )
            raise HostRefusal(
                "A0",
                "host.sign_on_unproven",
                N_("The sign-on of terminal {tid} does not prove its master key"),
                tid=tid,
            )
        if locked:
            raise HostRefusal(
                "75", "host.operator_locked", N_("Operator {code} is locked"), code=operator_code
            )
        if password_block is not None:
            self.sign_in_operator(tid, mid, operator_code, password_block)
        return self.sign_on(
            tid,
            mid,
            operator_code,
            operator_verified=password_block is not None,
            place=place,
            source=address,
        )

    def sign_on(
        self,
        tid: str,
        mid: str,
        operator_code: str,
        *,
        operator_verified: bool = True,
        place: f.Place | None = None,
        source: str | None = None,
    ) -> SignOn:
        """New working keys for the terminal, with no proof asked: the caller has
        checked who signs on (the host calls ``authenticated_sign_on``; tests and tools
        call this). ``operator_verified``: the operator's password was checked. With a
        ``source`` address, the terminal's place (None: the one stored stays) and the
        address are recorded in the same unit of work."""
        with self.ctx.db.transaction() as s:
            t, _ = self._serviceable(s, tid, mid, lock=True)
            tmk = self.ctx.keystore.unwrap_key(t.tmk_enc, tmk_context(t))
            generation = next_counter(s, f"keys:{t.id}")
            block = b""
            sealed: dict[str, bytes] = {}
            for role in ("pik", "mak", "tdk"):
                key = tdes.generate_key()
                block += tdes.encrypt_ecb(tmk, key) + tdes.kcv(key)
                sealed[role] = self.ctx.keystore.wrap_key(key, _keys_context(t, role, generation))
            now = self.ctx.now()
            row = s.get(WorkingKeys, t.id)
            if row is None:
                row = WorkingKeys(terminal_id=t.id)
                s.add(row)
            row.generation, row.operator_code, row.signed_on_at = generation, operator_code, now
            t.last_sign_on_at = now
            if source is not None:
                self.places.write(t, place, source, now)
            row.operator_verified = operator_verified
            row.pik_enc, row.mak_enc, row.tdk_enc = sealed["pik"], sealed["mak"], sealed["tdk"]
            if t.status in (T.BOUND, T.SHIPPED):  # the first sign-on puts it in service
                s.add(
                    TerminalEvent(
                        terminal_id=t.id,
                        from_status=t.status,
                        to_status=T.ACTIVE,
                        actor="host",
                        reason="first sign-on",
                        at=now,
                    )
                )
                t.status, t.activated_at = T.ACTIVE, now
            batch = self._open_batch(s, t)
            return SignOn(
                terminal_id=t.id,
                batch_no=batch.batch_no,
                key_block=block,
                generation=generation,
                rrn=next_rrn(s),
            )

    def sign_in_operator(self, tid: str, mid: str, code: str, password_block: bytes) -> None:
        """Operator sign-in (a profile extension): the password travels as a format 0
        block under the PIK of the terminal's current sign-on. Refusals: ``55`` unknown
        operator or wrong password (one answer for both), ``75`` locked, ``A0`` no
        working keys yet."""
        keys = self.admit(tid, mid)
        try:
            password = tdes.decrypt_pin(keys.pik, password_block, f.operator_account(tid))
            ok = TerminalService(self.ctx, no_payments).verify_operator(tid, code, password)
        except Refused as e:
            if e.code != "operator.locked":
                raise
            raise HostRefusal(
                "75", "host.operator_locked", N_("Operator {code} is locked"), code=code
            ) from None
        except (NotFound, InvalidInput):
            ok = False
        if not ok:
            raise HostRefusal(
                "55",
                "host.operator_refused",
                N_("Wrong operator or password at terminal {tid}"),
                tid=tid,
            )

    def check(self, tid: str, mid: str) -> None:
        """Answer an echo test: the terminal may talk to the host at all."""
        with self.ctx.db.read() as s:
            self._serviceable(s, tid, mid)

    def sign_off(self, tid: str, mid: str) -> None:
        """The working keys stop working; the next message needs a new sign-on."""
        with self.ctx.db.transaction() as s:
            t, _ = self._serviceable(s, tid, mid)
            row = s.get(WorkingKeys, t.id)
            if row is not None:
                s.delete(row)

    def admit(self, tid: str, mid: str, *, may_write: bool = True) -> Admitted:
        """Check a terminal may send a financial message now, and load its keys. What
        it loads is kept (core/cache.py) until something is written, a second passes,
        or ``forget`` is called; a terminal naming another merchant is never admitted.
        After a settlement this opens the next batch, a write: with ``may_write=False``
        it raises ``MustOpenBatch`` instead."""
        admitted = self._admitted.get(
            tid, lambda: self._admit(tid, mid, may_write), lambda a: self._state(tid) == a.state
        )
        return admitted if admitted.mid == mid else self._admit(tid, mid, may_write)

    async def admit_soon(self, tid: str, mid: str) -> Admitted:
        """``admit`` from the event loop: the reads at once where that is cheap
        (``Database.read_now``); opening a batch, a write that may wait for the
        database's lock, in a worker thread."""
        try:
            return await self.ctx.db.read_now(partial(self.admit, may_write=False), tid, mid)
        except MustOpenBatch:
            return await asyncio.to_thread(self.admit, tid, mid)

    def recheck(self, tid: str, mid: str, *, may_write: bool = True) -> Admitted:
        """``admit``, the kept admission checked against the database now (one cheap
        read) instead of trusted for up to a second: for a message that disagrees with
        it (a MAC under other keys, another batch), as when the terminal signed on or
        settled through another host process meanwhile."""
        kept = self._admitted.peek(tid)
        if kept is not None and kept.mid == mid and kept.state == self._state(tid):
            return kept
        self._admitted.forget(tid)
        return self.admit(tid, mid, may_write=may_write)

    async def recheck_soon(self, tid: str, mid: str) -> Admitted:
        """``recheck`` from the event loop, as ``admit_soon`` does ``admit``."""
        try:
            return await self.ctx.db.read_now(partial(self.recheck, may_write=False), tid, mid)
        except MustOpenBatch:
            return await asyncio.to_thread(self.admit, tid, mid)

    def admitted(self, tid: str, mid: str) -> Admitted | None:
        """``admit`` from memory only: None when the database must be asked."""
        admitted = self._admitted.peek(tid)
        return admitted if admitted is not None and admitted.mid == mid else None

    def forget(self, tid: str) -> None:
        """The terminal's batch or keys changed: read them again next time."""
        self._admitted.forget(tid)

    def _state(self, tid: str) -> tuple[object, ...] | None:
        """What admitting the terminal depends on, in one cheap read."""
        with self.ctx.db.quick_read() as conn:
            row = self.ctx.db.hot(_ADMISSION_STATE).first(conn, {"tid": check_tid(tid.strip())})
        return None if row is None else tuple(row)

    def _admit(self, tid: str, mid: str, may_write: bool) -> Admitted:
        state = self._state(tid)  # read first: a change meanwhile shows as a difference
        with self.ctx.db.read() as s:
            t, merchant = self._serviceable(s, tid, mid)
            row = s.get(WorkingKeys, t.id)
            if row is None:
                raise HostRefusal(
                    "A0",
                    "host.not_signed_on",
                    N_("Terminal {tid} is not signed on"),
                    tid=t.tid,
                )
            ks = self.ctx.keystore
            g = row.generation
            merchant_id, shop_id = t.merchant_id, t.shop_id
            if merchant_id is None or shop_id is None:  # _serviceable and a CHECK rule it out
                raise InvariantViolation("host.unbound", "Admitted an unbound terminal")
            batch_id, batch_no = self._current_batch(s, t, may_write)
            return Admitted(
                terminal_id=t.id,
                tid=t.tid,
                merchant_id=merchant_id,
                shop_id=shop_id,
                batch_id=batch_id,
                batch_no=batch_no,
                pik=ks.unwrap_key(row.pik_enc, _keys_context(t, "pik", g)),
                mak=ks.unwrap_key(row.mak_enc, _keys_context(t, "mak", g)),
                tdk=ks.unwrap_key(row.tdk_enc, _keys_context(t, "tdk", g)),
                generation=g,
                mac_method=t.mac_method,
                mid=mid,  # what _serviceable found the merchant's MID to be
                mcc=merchant.mcc,
                merchant_kind=merchant.kind,
                operator_signed_in=row.operator_verified or not t.require_operator_password,
                state=state,
            )

    def _serviceable(
        self, s: Session, tid: str, mid: str, *, lock: bool = False
    ) -> tuple[Terminal, Merchant]:
        try:
            t = find_terminal(s, tid, lock=lock)
        except NotFound:
            raise HostRefusal(
                "97", "host.unknown_terminal", N_("Terminal {tid} is not registered"), tid=tid
            ) from None
        if t.merchant_id is None:
            raise HostRefusal(
                "97", "host.unbound_terminal", N_("Terminal {tid} is not bound"), tid=tid
            )
        merchant = s.get(Merchant, t.merchant_id)
        if merchant is None or merchant.mid != mid:
            raise HostRefusal(
                "03",
                "host.wrong_merchant",
                N_("Terminal {tid} does not belong to merchant {mid}"),
                tid=tid,
                mid=mid,
            )
        if t.status is T.FROZEN:
            raise HostRefusal("58", "host.frozen_terminal", N_("Terminal {tid} is frozen"), tid=tid)
        if merchant.status is not MerchantStatus.APPROVED:
            raise HostRefusal(
                "03",
                "host.merchant_not_active",
                N_("Merchant {mid} is {status}"),
                mid=mid,
                status=merchant.status,
            )
        return t, merchant

    def _current_batch(self, s: Session, t: Terminal, may_write: bool) -> tuple[int, str]:
        """The open batch (id, number); after a settlement the next batch is opened
        here, in a write of its own (the caller only reads)."""
        row = s.execute(
            select(TerminalBatch.id, TerminalBatch.batch_no).where(
                TerminalBatch.terminal_id == t.id, TerminalBatch.settled_at.is_(None)
            )
        ).first()
        if row is not None:
            return row[0], row[1]
        if not may_write:
            raise MustOpenBatch
        with self.ctx.db.transaction() as w:
            terminal = w.get(Terminal, t.id)
            assert terminal is not None
            batch = self._open_batch(w, terminal)
            return batch.id, batch.batch_no

    def _open_batch(self, s: Session, t: Terminal) -> TerminalBatch:
        batch = s.execute(
            select(TerminalBatch).where(
                TerminalBatch.terminal_id == t.id, TerminalBatch.settled_at.is_(None)
            )
        ).scalar_one_or_none()
        if batch is not None:
            return batch
        last = s.execute(
            select(TerminalBatch.batch_no)
            .where(TerminalBatch.terminal_id == t.id)
            .order_by(TerminalBatch.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        number = FIRST_BATCH if last is None or int(last) >= LAST_BATCH else int(last) + 1
        batch = TerminalBatch(
            terminal_id=t.id, batch_no=f"{number:06d}", opened_at=self.ctx.now(), txn_count=0
        )
        s.add(batch)
        s.flush()
        return batch
