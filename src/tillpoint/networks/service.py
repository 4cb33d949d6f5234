"""The networks process: the card network and wallet simulators on their own, serving
the hosts' network links (`tillpoint networks serve`; docs/networks.md).

Each link is one TCP connection from one host process. It opens with a key exchange:
both ends prove they hold the master key, and the link is given its zone PIN key (ZPK)
under the zone master key. The host's PIN blocks arrive under that ZPK and are
translated here to the issuers' own key, as a card network translates from an
acquirer's zone to an issuer's. Requests are answered as they finish, in any order,
each under its request id; a silent issuer keeps its request waiting and the others go
on. Nothing a frame carries is logged, and nothing but the simulators' own books (card
numbers named by their place in the test deck) is written.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time
from pathlib import Path

from tillpoint.core.clock import Clock, SystemClock, business_date
from tillpoint.core.errors import InvalidInput
from tillpoint.networks import wire
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.connector import AuthKind, CardRequest, NetworkAnswer
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.networks.wallets import QrOrder, WalletOrg, WalletRequest, WalletSimulator
from tillpoint.networks.wire import Malformed, Op
from tillpoint.security import tdes
from tillpoint.security.keystore import Keystore

log = logging.getLogger("tillpoint.networks")

MAX_OUTSTANDING = 4096  # requests of one link on their way at once
KINDS = {k.value: k for k in (AuthKind.SALE, AuthKind.PREAUTH, AuthKind.BALANCE)}
WALLETS = {w.value: w for w in WalletOrg}

# The business day of the request being answered (the host's), and what the wallets
# notified while answering it: each request is a task, with a context of its own.
_DAY: contextvars.ContextVar[date | None] = contextvars.ContextVar("day", default=None)
_NOTIFIED: contextvars.ContextVar[list[tuple[str, WalletOrg, NetworkAnswer]] | None] = (
    contextvars.ContextVar("notified", default=None)
)

Reply = tuple[Op, list[str]]


class NetworksService:
    """The simulators, their books in ``directory`` (cards.sqlite3, wallets.sqlite3 and
    the clearing files), and the links they serve."""

    def __init__(
        self, keystore: Keystore, directory: Path, *, clock: Clock | None = None,
        cutoff: time = time(23, 0),
    ) -> None:  # fmt: skip
        self.keystore = keystore
        self.clock = clock or SystemClock()
        self.cutoff = cutoff
        self._issuer_zpk = tdes.generate_key()  # the issuers' own zone: never leaves here
        self.journal = ClearingJournal(directory, self._day)
        self.cards = CardNetworkSimulator(
            self._issuer_zpk, self.clock, self.journal, path=directory / "cards.sqlite3"
        )
        self.wallets = WalletSimulator(
            self.journal, qr_base_url="", path=directory / "wallets.sqlite3"
        )
        self.wallets.listen(self._notified)
        self.links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    def _day(self) -> date:
        """The host's business day of the request at hand (every request names it), else
        the calendar's."""
        return _DAY.get() or business_date(self.clock.now(), self.cutoff)

    @staticmethod
    async def _notified(ref: str, org: WalletOrg, answer: NetworkAnswer) -> None:
        notified = _NOTIFIED.get()
        if notified is not None:
            notified.append((ref, org, answer))

    async def start(self, bind: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Link(self), bind, port)
        return self._server

    async def start_on(self, sock: socket.socket) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Link(self), sock=sock)
        return self._server

    async def close(self) -> None:
        """Stop taking links, end those open (their requests on their way are cut off:
        the hosts reverse them), and close the books."""
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.abort()
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # the links' tasks see their cancellation
        self.journal.close()
        self.cards.close()
        self.wallets.close_books()

    # --- requests -------------------------------------------------------------------

    async def authorise(self, link: _Link, f: list[str]) -> Reply:
        _, ref, pan, expiry, minor, currency, kind, entry, mcc, mid, pin, psn, icc, fee_class = f
        if kind not in KINDS:
            raise Malformed("an unknown kind of authorisation")
        block = None
        if pin:
            block = wire.hexbytes(pin)
            try:  # from the link's zone to the issuers': a bad block is a wrong PIN
                block = tdes.translate_pin_block(link.zpk, self._issuer_zpk, block, pan)
            except InvalidInput:
                block = bytes(8)
        request = CardRequest(ref, pan, expiry, wire.money(minor, currency), KINDS[kind],
                              entry, mcc, mid, block, wire.chip(psn, icc), fee_class)  # fmt: skip
        return Op.ANSWER, wire.answer_fields(await self.cards.authorise(request))

    async def card_reverse(self, link: _Link, f: list[str]) -> Reply:
        return Op.ANSWER, wire.answer_fields(await self.cards.reverse(f[1]))

    async def card_cancel(self, link: _Link, f: list[str]) -> Reply:
        return Op.ANSWER, wire.answer_fields(await self.cards.cancel(f[1], f[2]))

    async def capture(self, link: _Link, f: list[str]) -> Reply:
        amount, chip = wire.money(f[3], f[4]), wire.chip(f[5], f[6])
        answer = await self.cards.capture(f[1], f[2], amount, chip, f[7])
        return Op.ANSWER, wire.answer_fields(answer)

    async def card_refund(self, link: _Link, f: list[str]) -> Reply:
        amount = wire.money(f[3], f[4])
        return Op.ANSWER, wire.answer_fields(await self.cards.refund(f[1], f[2], amount))

    async def pay(self, link: _Link, f: list[str]) -> Reply:
        request = WalletRequest(f[1], f[2], wire.money(f[3], f[4]), f[5], f[6])
        return Op.ANSWER, wire.answer_fields(await self.wallets.pay(request))

    async def precreate(self, link: _Link, f: list[str]) -> Reply:
        token = await self.wallets.precreate(f[1], wire.money(f[2], f[3]), f[4], _time(f[5]),
                                             f[6], f[7])  # fmt: skip
        return Op.TEXT, [token]

    async def close_order(self, link: _Link, f: list[str]) -> Reply:
        return Op.ANSWER, wire.answer_fields(await self.wallets.close(f[1]))

    async def wallet_reverse(self, link: _Link, f: list[str]) -> Reply:
        return Op.ANSWER, wire.answer_fields(await self.wallets.reverse(f[1]))

    async def wallet_cancel(self, link: _Link, f: list[str]) -> Reply:
        return Op.ANSWER, wire.answer_fields(await self.wallets.cancel(f[1], f[2]))

    async def wallet_refund(self, link: _Link, f: list[str]) -> Reply:
        amount = wire.money(f[3], f[4])
        return Op.ANSWER, wire.answer_fields(await self.wallets.refund(f[1], f[2], amount))

    async def find_order(self, link: _Link, f: list[str]) -> Reply:
        return Op.ORDER, order_fields(await self.wallets.find_order(f[1], _time(f[2])), None)

    async def answer_order(self, link: _Link, f: list[str]) -> Reply:
        _, token, org, approve, now = f
        if org not in WALLETS or approve not in ("0", "1"):
            raise Malformed("an answer to an order that is not one")
        notified: list[tuple[str, WalletOrg, NetworkAnswer]] = []
        _NOTIFIED.set(notified)
        order = await self.wallets.answer_order(token, WALLETS[org], approve == "1", _time(now))
        return Op.ORDER, order_fields(order, notified[-1][2] if notified else None)


Handler = Callable[[NetworksService, "_Link", list[str]], Awaitable[Reply]]
_HANDLERS: dict[int, Handler] = {
    Op.AUTHORISE: NetworksService.authorise,
    Op.CARD_REVERSE: NetworksService.card_reverse,
    Op.CARD_CANCEL: NetworksService.card_cancel,
    Op.CAPTURE: NetworksService.capture,
    Op.CARD_REFUND: NetworksService.card_refund,
    Op.PAY: NetworksService.pay,
    Op.PRECREATE: NetworksService.precreate,
    Op.CLOSE: NetworksService.close_order,
    Op.WALLET_REVERSE: NetworksService.wallet_reverse,
    Op.WALLET_CANCEL: NetworksService.wallet_cancel,
    Op.WALLET_REFUND: NetworksService.wallet_refund,
    Op.FIND_ORDER: NetworksService.find_order,
    Op.ANSWER_ORDER: NetworksService.answer_order,
}


def _time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed("a time that is not one") from None
    if at.tzinfo is None:
        raise Malformed("a time without its zone")
    return at


def order_fields(order: QrOrder | None, notified: NetworkAnswer | None) -> list[str]:
    """An order (or eight empty fields) and the answer the wallet notified for it (or as
    many empty fields as an answer has)."""
    if order is None:
        head = [""] * 8
    else:
        head = [
            order.token, order.network_ref, str(order.amount.amount_minor), order.amount.currency,
            order.merchant_name.replace(wire.SEP, " "), order.expires_at.isoformat(),
            order.state.value, "" if order.org is None else order.org.value,
        ]  # fmt: skip
    return head + (wire.answer_fields(notified) if notified else [""] * wire.ANSWER_FIELDS)


class _Link(asyncio.Protocol):
    """One host process's connection."""

    def __init__(self, service: NetworksService) -> None:
        self.service = service
        self.reader = wire.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.nonce = os.urandom(wire.NONCE_BYTES)
        self.host_nonce: bytes | None = None
        self.zpk = b""
        self.proven = False
        self.tasks: set[asyncio.Task[None]] = set()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.service.links.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.links.discard(self)
        for task in self.tasks:  # a silent issuer's request waits for ever otherwise
            task.cancel()
        if self.proven:
            log.info(json.dumps({"event": "network_link_closed", "peer": self.peer}))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            for op, request_id, payload in self.reader.feed(data):
                if self.transport is None or self.transport.is_closing():
                    break
                self._frame(op, request_id, payload)
        except wire.FrameTooLong as e:
            self._refuse(str(e))

    def _frame(self, op: int, request_id: int, payload: bytes) -> None:
        try:
            f = wire.fields(op, payload)
        except Malformed as e:
            if not self.proven:
                self._refuse(str(e))
            else:
                self._send(Op.ERROR, request_id, [str(e)])
            return
        if not self.proven:
            self._opening(op, f)
            return
        handler = _HANDLERS.get(op)
        if handler is None:
            self._send(Op.ERROR, request_id, [f"op {op} is not a request"])
        elif len(self.tasks) >= MAX_OUTSTANDING:
            self._send(Op.ERROR, request_id, ["too many requests on their way"])
        else:
            task = asyncio.ensure_future(self._answer(handler, request_id, f))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _answer(self, handler: Handler, request_id: int, f: list[str]) -> None:
        try:
            _DAY.set(wire.day(f[0]))
            op, reply = await handler(self.service, self, f)
        except Malformed as e:
            op, reply = Op.ERROR, [str(e)]
        except Exception:  # a bug: said without the request (it may hold a card number)
            log.exception(json.dumps({"event": "network_request_failed", "peer": self.peer}))
            op, reply = Op.ERROR, ["the network failed to answer"]
        self._send(op, request_id, reply)

    # --- opening: both ends prove they hold the master key; the link gets its ZPK --------

    def _opening(self, op: int, f: Sequence[str]) -> None:
        keystore = self.service.keystore
        if op == Op.HELLO and self.host_nonce is None:
            version, nonce, wrapped, check = f
            try:
                host_nonce = wire.hexbytes(nonce)
            except Malformed:
                host_nonce = b""
            if version != wire.VERSION or len(host_nonce) != wire.NONCE_BYTES:
                self._refuse(f"link version {wire.VERSION} opens with a nonce of 16 bytes")
                return
            self.host_nonce = host_nonce
            try:
                # The host's ZPK from an earlier connection, if it says one: a link keeps
                # its key across reconnections (a PIN block made under it may be on its
                # way); a new one otherwise.
                self.zpk = keystore.unwrap_zone_key(wire.hexbytes(wrapped), wire.hexbytes(check))
            except (Malformed, InvalidInput):
                self.zpk = tdes.generate_key()
            key, kcv = keystore.wrap_zone_key(self.zpk)
            proof = keystore.link_proof("networks", host_nonce, self.nonce)
            self._send(Op.CHALLENGE, 0, [self.nonce.hex(), proof.hex(), key.hex(), kcv.hex()])
        elif op == Op.PROOF and self.host_nonce is not None:
            want = keystore.link_proof("host", self.nonce, self.host_nonce)
            try:
                proof = wire.hexbytes(f[0])
            except Malformed:
                proof = b""
            if not hmac.compare_digest(proof, want):
                self._refuse("the host's proof is wrong: the master keys differ")
                return
            self.proven = True
            log.info(json.dumps({"event": "network_link_opened", "peer": self.peer}))
        else:
            self._refuse("the link must open with HELLO and PROOF")

    def _refuse(self, reason: str) -> None:
        """An error about the connection itself: said, and the connection ends."""
        log.warning(json.dumps({"event": "network_link_refused", "peer": self.peer,
                                "reason": reason}))  # fmt: skip
        self._send(Op.ERROR, 0, [reason])
        self._flush()
        if self.transport is not None:
            self.transport.close()

    # --- writing: the answers of one turn of the loop go out in one send ---------------

    def _send(self, op: int, request_id: int, fields: Sequence[str]) -> None:
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(wire.frame(op, request_id, fields))

    def _flush(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()
