"""The host's link to the networks process: ``CardNetwork`` and ``WalletNetwork`` over one
TCP connection per host process (docs/networks.md).

As an acquirer's link to a card network: one persistent connection carries every
request at once, each under a request id its answer repeats, answered in any order. The
link opens with a key exchange (both ends prove they hold the master key; the networks
process hands over the zone PIN key under the zone master key, with its check value),
and opens again by itself when the connection drops, presenting the same key again so
that it never changes under a PIN block on its way. A call waits for the link to be up
within its time-out. A call whose connection breaks before its answer came, or whose
answer takes longer than the time-out, raises ``NetworkTimeout``, as a silent issuer
does: the host answers 98 and reverses it (networks take a reversal any number of
times). Card numbers and PIN blocks (under the ZPK) cross the link in memory only:
nothing here logs or writes them.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TypeVar

from tillpoint.core.money import Money
from tillpoint.networks import wire
from tillpoint.networks.connector import CardRequest, ChipData, NetworkAnswer, NetworkTimeout
from tillpoint.networks.wallets import Notify, OrderState, QrOrder, WalletOrg, WalletRequest
from tillpoint.networks.wire import Malformed, Op
from tillpoint.security.keystore import Keystore

log = logging.getLogger("tillpoint.networks")

SWEEP_EVERY_S = 0.1  # how often calls past their time-out are looked for
RECONNECT_S = (0.05, 1.0)  # the wait before connecting again: first, and at most
MAX_OUTSTANDING = 4096
_WALLETS = {w.value: w for w in WalletOrg}
T = TypeVar("T")


class LinkError(NetworkTimeout):
    """The networks process refused a request (malformed, or a bug on either side):
    nothing is known to have happened, so the host treats it as no answer."""


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6), as TILLPOINT_NETWORKS_ADDRESS says it."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)


class _Connection(asyncio.Protocol):
    """One TCP connection of the link, from its opening to its end."""

    def __init__(self, link: NetworkLink) -> None:
        self.link = link
        self.reader = wire.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, tuple[asyncio.Future[list[str]], float]] = {}
        self.opening: asyncio.Future[list[str]] = link.loop.create_future()
        self.lost: asyncio.Future[None] = link.loop.create_future()
        self._out: list[bytes] = []
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._sweeper = self.link.loop.call_later(SWEEP_EVERY_S, self._sweep)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        gone = NetworkTimeout("the link to the network broke with the call on its way")
        for fut, _ in self.pending.values():
            if not fut.done():
                fut.set_exception(gone)
        self.pending.clear()
        if not self.opening.done():
            self.opening.set_exception(ConnectionError("the networks process hung up"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            for op, request_id, payload in self.reader.feed(data):
                self._frame(op, request_id, payload)
        except Malformed as e:
            self._broken(str(e))

    def _frame(self, op: int, request_id: int, payload: bytes) -> None:
        if request_id == 0:  # the opening, or an error about the connection
            f = wire.fields(op, payload)
            if op == Op.CHALLENGE and not self.opening.done():
                self.opening.set_result(f)
            else:
                self._broken(f[0] if op == Op.ERROR else f"op {op} out of turn")
            return
        entry = self.pending.pop(request_id, None)
        if entry is None or entry[0].done():
            return  # its caller gave up (time-out): nobody waits for it
        fut = entry[0]
        if op == Op.ERROR:
            fut.set_exception(LinkError(wire.fields(op, payload)[0]))
            return
        try:
            fut.set_result(wire.fields(op, payload))
        except Malformed as e:
            fut.set_exception(LinkError(str(e)))

    def _broken(self, reason: str) -> None:
        log.warning(json.dumps({"event": "network_link_error", "reason": reason}))
        if self.transport is not None:
            self.transport.abort()

    def _sweep(self) -> None:
        """Calls past their time-out end with NetworkTimeout (their answer, if it comes,
        is dropped)."""
        now = self.link.loop.time()
        late = [rid for rid, (_, deadline) in self.pending.items() if deadline <= now]
        for rid in late:
            fut, _ = self.pending.pop(rid)
            if not fut.done():
                fut.set_exception(NetworkTimeout("the network did not answer in time"))
        self._sweeper = self.link.loop.call_later(SWEEP_EVERY_S, self._sweep)

    def send(self, op: int, request_id: int, fields: Sequence[str]) -> None:
        """Queued: the requests of one turn of the event loop go out in one send."""
        if not self._out:
            self.link.loop.call_soon(self._flush)
        self._out.append(wire.frame(op, request_id, fields))

    def _flush(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()


class NetworkLink:
    """The link of this host process. ``cards`` and ``wallets`` are its two faces.

    ``day`` gives the host's open business day, which every request carries: the
    networks' clearing files follow the acquirer's days. ``qr_base_url`` is where this
    host shows the wallets' customer page (a new order's code is it and the order's
    token)."""

    def __init__(
        self,
        address: tuple[str, int],
        keystore: Keystore,
        day: Callable[[], date],
        *,
        timeout_s: float = 10.0,
        qr_base_url: str = "/simulator/qr/",
    ) -> None:
        self.address = address
        self.keystore = keystore
        self.day = day
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.zpk = b""
        self._wrapped: tuple[bytes, bytes] | None = None  # the ZPK as presented again
        self._conn: _Connection | None = None
        self._up = asyncio.Event()
        self._ids = itertools.count(1)
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False
        self.cards = LinkCards(self)
        self.wallets = LinkWallets(self, qr_base_url)
        self.connections = 0  # how many times it has opened (tests, the log)

    @property
    def up(self) -> bool:
        return self._conn is not None

    async def open(self) -> NetworkLink:
        """Connect and keep connected; returns once the link is up (it has its ZPK), or
        raises ``NetworkTimeout`` if it is not within the time-out."""
        self._keeper = asyncio.ensure_future(self._keep())
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._up.wait()
        except TimeoutError:
            self.close()
            raise NetworkTimeout(
                f"no networks process answers at {self.address[0]}:{self.address[1]}"
            ) from None
        return self

    def close(self) -> None:
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()

    async def _keep(self) -> None:
        pause = RECONNECT_S[0]
        said = False
        while not self._closed:
            try:
                conn = await self._connect()
            except Exception as e:  # refused, unreachable, another master key...: again
                if not said:  # once per outage, not once per try
                    log.warning(json.dumps({"event": "network_link_down", "reason": str(e)}))
                    said = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_S[1])
                continue
            pause, said = RECONNECT_S[0], False
            self.connections += 1
            self._conn = conn
            self._up.set()
            await conn.lost
            self._up.clear()
            self._conn = None
            if not self._closed:
                log.warning(json.dumps({"event": "network_link_lost"}))

    async def _connect(self) -> _Connection:
        """A connection, opened: both ends proven, the ZPK received and checked."""
        host, port = self.address
        transport, conn = await asyncio.wait_for(
            self.loop.create_connection(lambda: _Connection(self), host, port), self.timeout_s
        )
        try:
            nonce = os.urandom(wire.NONCE_BYTES)
            wrapped, check = self._wrapped or (b"", b"")
            conn.send(Op.HELLO, 0, [wire.VERSION, nonce.hex(), wrapped.hex(), check.hex()])
            their_nonce, proof, key, kcv = await asyncio.wait_for(conn.opening, self.timeout_s)
            their_nonce_b = wire.hexbytes(their_nonce)
            want = self.keystore.link_proof("networks", nonce, their_nonce_b)
            if not hmac.compare_digest(wire.hexbytes(proof), want):
                raise Malformed("the networks process's proof is wrong: the master keys differ")
            zpk = self.keystore.unwrap_zone_key(wire.hexbytes(key), wire.hexbytes(kcv))
            conn.send(Op.PROOF, 0, [self.keystore.link_proof("host", their_nonce_b, nonce).hex()])
        except BaseException:
            transport.abort()
            raise
        if self.zpk and zpk != self.zpk:  # never: the networks process took the key back
            log.warning(json.dumps({"event": "network_zone_key_changed"}))
        self.zpk = zpk
        self._wrapped = (wire.hexbytes(key), wire.hexbytes(kcv))
        return conn

    async def call(self, op: Op, fields: list[str]) -> list[str]:
        """One request and its answer's fields (the host's business day goes first)."""
        conn = self._conn
        deadline = self.loop.time() + self.timeout_s
        if conn is None:  # down: wait for it to be up again, within the time-out
            try:
                async with asyncio.timeout_at(deadline):
                    await self._up.wait()
            except TimeoutError:
                raise NetworkTimeout("the link to the network is down") from None
            conn = self._conn
            if conn is None:
                raise NetworkTimeout("the link to the network is down")
        if len(conn.pending) >= MAX_OUTSTANDING:
            raise NetworkTimeout("too many calls on their way to the network")
        rid = next(self._ids) & 0xFFFFFFFF or next(self._ids)
        fut: asyncio.Future[list[str]] = self.loop.create_future()
        conn.pending[rid] = (fut, deadline)
        fields.insert(0, str(self.day().toordinal()))
        conn.send(op, rid, fields)
        return await fut


class LinkCards:
    """``CardNetwork`` over the link."""

    def __init__(self, link: NetworkLink) -> None:
        self.link = link

    async def authorise(self, request: CardRequest) -> NetworkAnswer:
        r, a = request, request.amount
        pin = "" if r.pin_block is None else r.pin_block.hex()
        return await _answered(self.link, Op.AUTHORISE, [
            r.network_ref, r.pan, r.expiry, str(a.amount_minor), a.currency, r.kind.value,
            r.entry_mode, r.mcc, r.mid, pin, *wire.chip_fields(r.chip), r.fee_class,
        ])  # fmt: skip

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        return await _answered(self.link, Op.CARD_REVERSE, [network_ref])

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        return await _answered(self.link, Op.CARD_CANCEL, [original_ref, network_ref])

    async def capture(
        self,
        preauth_ref: str,
        network_ref: str,
        amount: Money,
        chip: ChipData | None = None,
        fee_class: str = "",
    ) -> NetworkAnswer:
        return await _answered(self.link, Op.CAPTURE, [
            preauth_ref, network_ref, str(amount.amount_minor), amount.currency,
            *wire.chip_fields(chip), fee_class,
        ])  # fmt: skip

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        return await _answered(
            self.link,
            Op.CARD_REFUND,
            [original_ref, network_ref, str(amount.amount_minor), amount.currency],
        )


class LinkWallets:
    """``WalletNetwork`` (and the simulator's customer side, ``WalletApp``) over the link.
    A customer's answer to an order comes back with what the wallet notified, and is
    told to this process's listeners before the call returns, as in one process."""

    def __init__(self, link: NetworkLink, qr_base_url: str) -> None:
        self.link = link
        self.qr_base_url = qr_base_url
        self._listeners: list[Notify] = []

    async def pay(self, request: WalletRequest) -> NetworkAnswer:
        a = request.amount
        return await _answered(
            self.link,
            Op.PAY,
            [request.network_ref, request.code, str(a.amount_minor), a.currency, request.mid,
             request.mcc],
        )  # fmt: skip

    async def precreate(
        self,
        network_ref: str,
        amount: Money,
        merchant_name: str,
        expires_at: datetime,
        mid: str = "",
        mcc: str = "",
    ) -> str:
        f = await self.link.call(Op.PRECREATE, [
            network_ref, str(amount.amount_minor), amount.currency,
            merchant_name.replace(wire.SEP, " "), expires_at.isoformat(), mid, mcc,
        ])  # fmt: skip
        return self.qr_base_url + f[0]

    async def close(self, network_ref: str) -> NetworkAnswer:
        return await _answered(self.link, Op.CLOSE, [network_ref])

    def listen(self, notify: Notify) -> None:
        self._listeners.append(notify)

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        return await _answered(self.link, Op.WALLET_REVERSE, [network_ref])

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        return await _answered(self.link, Op.WALLET_CANCEL, [original_ref, network_ref])

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        return await _answered(
            self.link,
            Op.WALLET_REFUND,
            [original_ref, network_ref, str(amount.amount_minor), amount.currency],
        )

    async def find_order(self, token: str, now: datetime) -> QrOrder | None:
        order, _ = _checked(await self.link.call(Op.FIND_ORDER, [token, now.isoformat()]), _order)
        return order

    async def answer_order(
        self, token: str, org: WalletOrg, approve: bool, now: datetime
    ) -> QrOrder | None:
        f = await self.link.call(
            Op.ANSWER_ORDER, [token, org.value, "1" if approve else "0", now.isoformat()]
        )
        order, notified = _checked(f, _order)
        if order is not None and order.org is not None and notified is not None:
            for notify in self._listeners:
                await notify(order.network_ref, order.org, notified)
        return order


async def _answered(link: NetworkLink, op: Op, fields: list[str]) -> NetworkAnswer:
    """A call whose answer is a network's answer."""
    return _checked(await link.call(op, fields), wire.answer)


def _checked(f: list[str], read: Callable[[list[str]], T]) -> T:
    try:
        return read(f)
    except Malformed as e:
        raise LinkError(str(e)) from None


def _order(f: list[str]) -> tuple[QrOrder | None, NetworkAnswer | None]:
    notified = wire.answer(f[8:]) if f[8] else None
    token, ref, minor, currency, name, expires_at, state, org = f[:8]
    if not token:
        return None, notified
    try:
        order = QrOrder(token, ref, wire.money(minor, currency), name,
                        datetime.fromisoformat(expires_at), OrderState(state),
                        _WALLETS[org] if org else None)  # fmt: skip
    except (ValueError, KeyError):
        raise Malformed("an order that is not one") from None
    return order, notified
