"""The terminal host: an asyncio TCP server speaking the POS 8583 profile (an adapter).

Each connection carries one exchange or many, answered in order. Frames are bounded
(``MAX_FRAME_BYTES``), reads time out, connections are limited in number; a malformed
frame gets ``30`` when its TID can be read and otherwise closes only its own
connection. Writes that may wait (a sign-on, the database's lock, the commit's fsync)
run in worker threads so one slow write never stalls other terminals; the payment
path's short reads run on the loop where that is cheaper (``Database.read_now``). One
structured log line per message, with no card data in it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.errors import InvalidInput, invariant
from tillpoint.core.groupcommit import Overloaded
from tillpoint.core.ids import is_pan
from tillpoint.core.money import NUMERIC_CODES, Money
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583 import icc
from tillpoint.iso8583.codec import (
    Message,
    decode,
    decoded_mac_block,
    encode,
    encode_with_mac,
    mac_required,
    response_mti,
)
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.framing import (
    MAX_FRAME_BYTES,
    Frame,
    frame_bytes,
    parse_frame,
    reply_header,
    reply_tpdu,
)
from tillpoint.iso8583.mac import MacMethod, compute_mac
from tillpoint.payments.acquirer import Acquirer, BatchTotals, Card, Outcome, RequestKey
from tillpoint.payments.checkouts import Offer, check_checkout_ref, claim, claim_lapse
from tillpoint.payments.models import PaymentKind
from tillpoint.security import tdes
from tillpoint.terminals.models import FailureReason, SecurityEventKind
from tillpoint.terminals.signon import Admitted, HostRefusal, SignOnProof

log = logging.getLogger("tillpoint.host")
MAX_MAC_THROTTLES = 10_000  # (terminal, address) pairs whose MAC failures are held back
_NUMERIC_OF = {currency: number for number, currency in NUMERIC_CODES.items()}  # field 49


@dataclass(frozen=True)
class HostLimits:
    """What one host process gives the connections on its port (docs/protocol.md,
    "Connections"). A connection is *unproven* until a frame on it shows a known
    terminal holding its keys (a sign-on whose MAC verifies under the TMK, or a message
    whose MAC verifies under the MAK); then it moves into the pool of proven
    connections, which floods of unproven ones cannot reach."""

    max_unproven_connections: int = 1024  # not yet proven, from every address together
    max_unproven_per_address: int = 256  # not yet proven, from one source address
    max_proven_connections: int = 4096  # proven by a verified frame
    max_connections_per_address: int = 1024  # both pools, from one source address
    first_frame_timeout_s: float = 5.0  # from the connection to its first complete frame
    frame_timeout_s: float = 5.0  # from a frame's first byte to its last
    unproven_idle_timeout_s: float = 10.0  # between frames, while not yet proven
    idle_timeout_s: float = 300.0  # between frames, once proven
    shutdown_timeout_s: float = 10.0  # a graceful stop waits this long for answers

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            invariant(value > 0, f"HostLimits.{name} must be positive")
        invariant(
            self.max_unproven_per_address <= self.max_unproven_connections,
            "HostLimits: one address cannot have more unproven connections than all",
        )


@dataclass(frozen=True)
class Answer:
    message: Message
    mac_key: bytes | None = None  # MAC the answer under this MAK (None: no MAC)
    mac_method: MacMethod = MacMethod.ECB
    must_sign_on: bool = False
    proven: bool = False  # the request proved its terminal (a MAC verified)


@dataclass(eq=False)
class _Connection:
    """One client connection's place in the host's books."""

    address: str
    writer: asyncio.StreamWriter
    proven: bool = False
    busy: bool = False  # a frame is being answered: never evicted, stopped after it
    released: bool = False


@dataclass(frozen=True, slots=True)
class _Offered(Outcome):
    """The cashier link's poll answered 00: the checkout that waits (4.13)."""

    offer: Offer | None = None


def _totals(t: f.Totals) -> BatchTotals:
    return BatchTotals(t.debit_minor, t.debit_count, t.credit_minor, t.credit_count)


def _answer_mti(request: Message) -> str:
    mti = response_mti(request.mti)
    invariant(mti is not None, "only requests are answered")
    assert mti is not None  # for the type checker; invariant() has just said so
    return mti


def _mac_verifies(admitted: Admitted, mac: bytes | None, mab: bytes | None) -> bool:
    if mac is None or mab is None:
        return False
    return tdes.macs_equal(mac, compute_mac(admitted.mac_method, admitted.mak, mab))


def _peer_address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return "unknown"  # a Unix socket or a transport that does not say


class HostServer:
    """The listening host: ``close()`` stops accepting and ends every connection once its
    answer in flight (if any) is written; ``wait_closed()`` waits for that, at most
    ``HostLimits.shutdown_timeout_s``, so a graceful stop leaves no task behind."""

    def __init__(self, server: asyncio.Server, host: TerminalHost) -> None:
        self._server, self._host = server, host

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets)

    def close(self) -> None:
        self._server.close()
        self._host.stop_connections()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
        await self._host.connections_closed()


class TerminalHost:
    def __init__(
        self,
        app: Tillpoint,
        acquirer: Acquirer | None = None,
        limits: HostLimits | None = None,
        *,
        process: int | None = None,
    ) -> None:
        self.app = app
        self.acquirer = acquirer
        self.limits = limits or HostLimits()
        # Which host process this is, when `tillpoint serve` runs several: every log
        # line says it, so a log tells which process answered.
        self.process = process
        self._connections: set[_Connection] = set()
        # Every connection's task from the moment it is accepted, admitted or not yet run.
        self._tasks: set[asyncio.Task[None]] = set()
        # Unproven connections by address, oldest first (dicts keep insertion order).
        self._unproven: dict[str, dict[_Connection, None]] = {}
        self._unproven_count = 0
        self._proven_count = 0
        self._per_address: dict[str, int] = {}
        self._stopping = False
        self._refusals_logged_at = 0.0
        # (TID, address) -> (key generation, until): MAC failures held back (terminals/security.py).
        self._mac_throttles: dict[tuple[str, str], tuple[int, datetime]] = {}

    async def start(self, host: str, port: int) -> HostServer:
        server = await asyncio.start_server(self._accepted, host, port)
        return HostServer(server, self)

    async def start_on(self, sock: socket.socket) -> HostServer:
        """Serve on a socket already bound and listening (``tillpoint serve`` binds its
        ports before anything else, so a port in use is said at once and plainly)."""
        server = await asyncio.start_server(self._accepted, sock=sock)
        return HostServer(server, self)

    def connection_counts(self) -> dict[str, int]:
        """How many connections are open, by pool (for tests and operations)."""
        return {
            "unproven": self._unproven_count,
            "proven": self._proven_count,
            "addresses": len(self._per_address),
        }

    # --- connections --------------------------------------------------------------------

    def _admit_connection(self, conn: _Connection) -> bool:
        """Take a new connection into the unproven pool, evicting the oldest idle
        unproven connection of the same address (or, when the whole pool is full, of the
        address holding most of it) to make room; False when it cannot come in."""
        lim, address = self.limits, conn.address
        if self._stopping or self._per_address.get(address, 0) >= lim.max_connections_per_address:
            return False
        mine = self._unproven.get(address, {})
        if len(mine) >= lim.max_unproven_per_address:
            if not self._evict_oldest(address):
                return False
        elif self._unproven_count >= lim.max_unproven_connections:
            crowded = max(self._unproven, key=lambda a: len(self._unproven[a]))
            if not self._evict_oldest(crowded):
                return False
        self._connections.add(conn)
        self._unproven.setdefault(address, {})[conn] = None
        self._unproven_count += 1
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return True

    def _evict_oldest(self, address: str) -> bool:
        victim = next((c for c in self._unproven.get(address, {}) if not c.busy), None)
        if victim is None:
            return False
        self._release(victim)
        victim.writer.transport.abort()  # its reader sees the connection lost and ends
        return True

    def _prove(self, conn: _Connection) -> None:
        """A verified frame: move the connection into the proven pool, if it has room."""
        if conn.proven or conn.released or self._proven_count >= self.limits.max_proven_connections:
            return
        mine = self._unproven[conn.address]
        del mine[conn]
        if not mine:
            del self._unproven[conn.address]
        self._unproven_count -= 1
        self._proven_count += 1
        conn.proven = True

    def _release(self, conn: _Connection) -> None:
        if conn.released:
            return
        conn.released = True
        self._connections.discard(conn)
        if conn.proven:
            self._proven_count -= 1
        else:
            mine = self._unproven[conn.address]
            del mine[conn]
            if not mine:
                del self._unproven[conn.address]
            self._unproven_count -= 1
        left = self._per_address[conn.address] - 1
        if left:
            self._per_address[conn.address] = left
        else:
            del self._per_address[conn.address]

    def _note_refused(self, address: str) -> None:
        """One log line at most every 10 s: a flood must not become a flood of logs."""
        now = time.monotonic()
        if now - self._refusals_logged_at >= 10.0:
            self._refusals_logged_at = now
            log.warning(self._json({"event": "connection_refused", "address": address}))

    def stop_connections(self) -> None:
        """A graceful stop: no new connections; idle ones close now, busy ones after
        their answer."""
        self._stopping = True
        for conn in list(self._connections):
            if not conn.busy:
                conn.writer.close()

    async def connections_closed(self) -> None:
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.limits.shutdown_timeout_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The host's own task per connection, not the one asyncio's streams would make:
        a connection accepted just as the event loop ends can have its task cancelled
        before it ever runs, and asyncio's would then log that cancellation as an error
        (CPython 3.11.7+); this one just drops the connection."""
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                writer.transport.abort()

        task.add_done_callback(done)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(_peer_address(writer), writer)
        if not self._admit_connection(conn):
            if not self._stopping:  # arriving during a stop is no refusal worth a log line
                self._note_refused(conn.address)
            writer.transport.abort()
            return
        try:
            await self._serve(reader, conn)
        except asyncio.CancelledError:
            pass  # the event loop is stopping: the connection ends with it, quietly
        except Exception as e:  # one connection's fault never escapes
            log.error(self._json({"event": "connection_error", "error": type(e).__name__}))
        finally:
            self._release(conn)
            conn.writer.close()

    async def _serve(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        """Frames in, answers out, in order, within the limits: the first complete frame
        by ``first_frame_timeout_s`` after connecting; each frame complete within
        ``frame_timeout_s`` of its first byte; at most the idle time-out between frames.
        Only a complete frame moves a deadline on: bytes that never make one cannot."""
        lim, loop = self.limits, asyncio.get_running_loop()
        first_by = loop.time() + lim.first_frame_timeout_s
        idle_until = first_by
        while not self._stopping:
            try:  # asyncio.timeout: wait_for would start a task per read
                async with asyncio.timeout_at(idle_until):
                    first = await reader.readexactly(1)
                frame_by = loop.time() + lim.frame_timeout_s
                async with asyncio.timeout_at(min(frame_by, first_by) if first_by else frame_by):
                    size = int.from_bytes(first + await reader.readexactly(1), "big")
                    if not 0 < size <= MAX_FRAME_BYTES:
                        log.warning(self._json({"event": "frame_refused", "bytes": size}))
                        return
                    payload = await reader.readexactly(size)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            first_by = 0.0
            conn.busy = True
            try:
                reply, proven = await self._answer(payload, conn.address)
                if reply is None:
                    return
                if proven:
                    self._prove(conn)
                conn.writer.write(frame_bytes(reply))
                await conn.writer.drain()
            finally:
                conn.busy = False
            idle = lim.idle_timeout_s if conn.proven else lim.unproven_idle_timeout_s
            idle_until = loop.time() + idle

    async def answer(self, payload: bytes, source: str = "unknown") -> bytes | None:
        """The reply payload for one request payload, or None to close the connection.
        ``source`` is the address the connection came from. Never raises: whatever the
        bytes, the answer is a reply or a clean close."""
        reply, _ = await self._answer(payload, source)
        return reply

    async def _answer(self, payload: bytes, source: str) -> tuple[bytes | None, bool]:
        started = time.perf_counter()
        try:
            return await self._answer_frame(payload, source, started)
        except Exception as e:  # a bug closes one connection, no more
            log.error(self._json({"event": "host_error", "error": type(e).__name__}))
            return None, False

    async def _answer_frame(
        self, payload: bytes, source: str, started: float
    ) -> tuple[bytes | None, bool]:
        try:
            frame = parse_frame(payload)
        except FormatError as e:
            self._log(None, None, None, "closed", started, str(e))
            return None, False
        try:
            request = decode(frame.body)
        except FormatError as e:
            answer_mti = response_mti(e.mti)
            if e.tid is None or answer_mti is None:
                self._log(e.mti, e.tid, None, "closed", started, str(e))
                return None, False
            reply = Answer(Message(answer_mti, {39: "30", 41: e.tid}))
            self._log(e.mti, e.tid, None, "30", started, str(e))
            return self._encode(frame, reply), False
        tid, stan = self._safe_text(request, 41), self._safe_text(request, 11)
        if response_mti(request.mti) is None:  # an answer, or no message of the profile
            self._log(request.mti, tid, stan, "closed", started, "not a request")
            return None, False
        try:
            answer = await self.handle(request, frame.body, source)
        except (FormatError, InvalidInput) as e:
            self._log(request.mti, tid, stan, "30", started, str(e))
            return self._encode(frame, self._refuse(request, "30")), False
        except Overloaded:
            self._log(request.mti, tid, stan, "96", started, "overloaded")
            return self._encode(frame, self._refuse(request, "96")), False
        except Exception:  # a bug or an outage: this terminal gets 96, the rest go on
            log.exception(self._json({"event": "host_error", "mti": request.mti, "tid": tid}))
            self._log(request.mti, tid, stan, "96", started, "internal error")
            return self._encode(frame, self._refuse(request, "96")), False
        self._log(request.mti, tid, stan, answer.message.text(39), started, None)
        return self._encode(frame, answer), answer.proven

    @staticmethod
    def _safe_text(request: Message, number: int) -> str | None:
        value = request.fields.get(number)
        return value if isinstance(value, str) else None

    # --- messages ---------------------------------------------------------------------

    async def handle(self, request: Message, body: bytes, source: str = "unknown") -> Answer:
        """One request to its answer; ``source`` is the connection's address."""
        tid, mid, f60_text = request.text(41), request.text(42), request.text(60)
        if tid is None or mid is None or f60_text is None:
            raise FormatError("41, 42 and 60 are required", field=41 if tid is None else 42)
        f60 = f.Field60.parse(f60_text)
        if request.mti == "0800" and f60.network_code == f.SIGN_ON_KEYS:
            place = self._place(request)  # a malformed 59 is answered 30: nothing changes
            proof = SignOnProof(decoded_mac_block(body, request), request.binary(64), source)
            return await asyncio.to_thread(self._sign_on, request, tid, mid, f60, proof, place)
        if request.mti == "0820" and f60.network_code == f.SIGN_OFF:
            action: Callable[[], None] = lambda: self.app.signon.sign_off(tid, mid)  # noqa: E731
            return await asyncio.to_thread(self._simple, request, action)
        if request.mti == "0820" and f60.network_code == f.ECHO:
            action = lambda: self.app.signon.check(tid, mid)  # noqa: E731
            return await asyncio.to_thread(self._simple, request, action)
        # Financial messages, and the network management ones that carry a MAC (4.11
        # e-signature, 4.13 cashier link): admitted and MAC-checked alike.
        return await self._financial(request, body, tid, mid, f60, source)

    def _sign_on(
        self,
        request: Message,
        tid: str,
        mid: str,
        f60: f.Field60,
        proof: SignOnProof,
        place: f.Place | None,
    ) -> Answer:
        operator = (request.text(63) or "001")[:3].strip()
        password = request.binary(52)  # operator sign-in, a Tillpoint extension
        signon = self.app.signon
        try:
            done = signon.authenticated_sign_on(tid, mid, operator, proof, password, place=place)
        except HostRefusal as r:
            return self._refuse(request, r.response_code)
        signon.places.remember(tid, request.text(59), proof.source_address)
        now = self.app.ctx.now().astimezone(BUSINESS_TZ)
        fields = self._echo(request)
        fields.update(
            {
                12: now.strftime("%H%M%S"),
                13: now.strftime("%m%d"),
                32: self.app.ctx.settings.acquirer_id,
                37: done.rrn,
                39: "00",
                60: f.Field60(f60.txn_type, done.batch_no, f60.network_code).build(),
                62: done.key_block,
            }
        )
        return Answer(Message(_answer_mti(request), fields), proven=True)

    def _simple(self, request: Message, action: Callable[[], None]) -> Answer:
        try:
            action()
        except HostRefusal as r:
            return self._refuse(request, r.response_code)
        fields = self._echo(request)
        fields[39] = "00"
        return Answer(Message(_answer_mti(request), fields))

    async def _financial(
        self, request: Message, body: bytes, tid: str, mid: str, f60: f.Field60, source: str
    ) -> Answer:
        signon = self.app.signon
        try:
            admitted = signon.admitted(tid, mid)  # kept in memory: up to a second old
            kept = admitted is not None
            if admitted is None:  # not in memory: ask the database, off the event loop
                admitted = await signon.admit_soon(tid, mid)
            elif f60.batch != admitted.batch_no:
                # Another batch than the one kept: another host process may have
                # settled the kept one. One cheap read says.
                admitted, kept = await signon.recheck_soon(tid, mid), False
        except HostRefusal as r:
            return Answer(
                self._refuse(request, r.response_code).message,
                must_sign_on=r.response_code == "A0",
            )
        if self._mac_throttles and self._mac_throttled(tid, source, admitted.generation):
            return Answer(self._refuse(request, "A0").message, must_sign_on=True)  # unchecked
        mac, mab = request.binary(64), decoded_mac_block(body, request)
        verified = _mac_verifies(admitted, mac, mab)
        if not verified and kept and mac is not None:
            # The terminal may have signed on through another host process within the
            # second this one keeps an admission: ask the database before refusing.
            try:
                fresh = await signon.recheck_soon(tid, mid)
            except HostRefusal as r:
                return Answer(self._refuse(request, r.response_code).message,
                              must_sign_on=r.response_code == "A0")  # fmt: skip
            if fresh.generation != admitted.generation:
                admitted, verified = fresh, _mac_verifies(fresh, mac, mab)
        method = admitted.mac_method
        if not verified:
            reason = FailureReason.NO_MAC if mac is None else FailureReason.BAD_MAC
            until = await asyncio.to_thread(
                self.app.signon.security.record_failure,
                admitted.terminal_id,
                tid,
                SecurityEventKind.MAC_FAILED,
                source,
                reason,
                admitted.generation,
            )
            if until is not None:
                self._hold_back(tid, source, admitted.generation, until)
            return Answer(self._refuse(request, "A0").message, must_sign_on=True)
        raw_place = request.text(59)  # where the terminal is (4.12), MAC-checked now
        if not signon.places.unchanged(tid, raw_place, source):
            await self._note_place(admitted, tid, raw_place, source)
        if not admitted.operator_signed_in:  # the terminal requires a password sign-in
            return Answer(self._refuse(request, "58").message, admitted.mak, method, proven=True)
        outcome = await self._route(request, admitted, f60)
        return Answer(self._financial_answer(request, outcome), admitted.mak, method, proven=True)

    @staticmethod
    def _place(request: Message) -> f.Place | None:
        raw = request.text(59)
        return None if raw is None else f.Place.parse(raw)

    async def _note_place(self, admitted: Admitted, tid: str, raw: str | None, source: str) -> None:
        """Record where a proven message says its terminal is, when that is news to
        this process (terminals/places.py). A malformed 59 raises ``FormatError`` (the
        message is answered 30, nothing written); a write that fails is logged and the
        message served: the place is noted, not needed."""
        try:
            await self.app.signon.places.note(admitted.terminal_id, tid, raw, source)
        except FormatError:
            raise
        except Exception as e:
            log.warning(
                self._json({"event": "place_not_recorded", "tid": tid, "error": type(e).__name__})
            )

    def _mac_throttled(self, tid: str, source: str, generation: int) -> bool:
        held = self._mac_throttles.get((tid, source))
        if held is None:
            return False
        if held[0] == generation and self.app.ctx.now() < held[1]:
            return True
        del self._mac_throttles[(tid, source)]  # over, or the terminal signed on since
        return False

    def _hold_back(self, tid: str, source: str, generation: int, until: datetime) -> None:
        """Remember a MAC throttle the database has recorded, so that the messages it
        holds back cost no MAC and no write. Bounded: when full, expired entries go, and
        if none has, the throttle is not kept here (the database still applies it to
        the next failure, one write each)."""
        if len(self._mac_throttles) >= MAX_MAC_THROTTLES:
            now = self.app.ctx.now()
            for key in [k for k, (_, end) in self._mac_throttles.items() if end <= now]:
                del self._mac_throttles[key]
            if len(self._mac_throttles) >= MAX_MAC_THROTTLES:
                return
        self._mac_throttles[(tid, source)] = (generation, until)

    async def _route(self, request: Message, t: Admitted, f60: f.Field60) -> Outcome:
        """Section 4's messages by (MTI, processing code, 60.1)."""
        if self.acquirer is None:
            return Outcome("12")
        if f60.network_code == f.CHECKOUT_POLL and request.mti == "0820":
            return await self._checkout_poll(t)  # 4.13: no key to take, nothing kept
        a, key = self.acquirer, self._key(request, f60)
        if request.mti == "0400":
            return await a.reverse(t, key, "0100" if f60.txn_type in ("10", "11") else "0200")
        if request.mti == "0320" and f60.network_code == f.UPLOAD_END:
            return await a.end_upload(t, key, f.upload_count(request.text(48) or ""))
        if request.mti == "0320":
            return await a.upload(
                t, key, self._need(request, 37), self._need(request, 3), self._amount(request)
            )
        if request.mti == "0820" and f60.network_code == f.SIGNATURE:  # 4.11
            rrn, amount = self._need(request, 37), int(self._need(request, 4))  # 4 is n12
            return await a.signature(t, key, rrn, amount, request.binary(62) or b"")
        if request.mti == "0820":  # sign-off and echo are answered before admission
            return Outcome("12")  # no other network management message is financial
        if request.mti == "0500" and f60.network_code == f.SETTLE:
            totals = f.SettlementTotals.parse(request.text(48) or "")
            return await a.settle_batch(t, key, _totals(totals.domestic), _totals(totals.foreign))
        routes: dict[tuple[str, str | None, str], Callable[[], Awaitable[Outcome]]] = {
            ("0200", "000000", "22"): lambda: a.sale(
                t, key, self._amount(request), self._card(request, chip=True)
            ),
            ("0200", "310000", "01"): lambda: a.balance(t, self._card(request, chip=True)),
            ("0200", "200000", "23"): lambda: a.void(
                t, key, self._amount(request), self._need(request, 37)
            ),
            ("0220", "200000", "25"): lambda: a.refund(
                t, key, self._amount(request), self._need(request, 37), self._card(request)
            ),
            ("0100", "030000", "10"): lambda: a.sale(
                t, key, self._amount(request), self._card(request, chip=True), PaymentKind.PREAUTH
            ),
            ("0100", "200000", "11"): lambda: a.void(
                t, key, self._amount(request), self._need(request, 37), PaymentKind.PREAUTH
            ),
            ("0200", "000000", "20"): lambda: a.complete(
                t,
                key,
                self._amount(request),
                self._need(request, 38),
                self._card(request, chip=True),
            ),
            ("0200", "200000", "21"): lambda: a.void(
                t, key, self._amount(request), self._need(request, 37), PaymentKind.COMPLETION
            ),
        }
        if 62 in request.fields and (request.mti, request.text(3), f60.txn_type) == (
            "0200",
            "000000",
            "22",
        ):
            return await self._checkout_sale(request, t, key)  # 4.13: a sale naming a checkout
        code = request.text(57)
        if code is not None and (request.mti, request.text(3), f60.txn_type) == (
            "0200",
            "000000",
            "22",
        ):
            return await a.wallet_sale(t, key, self._amount(request), code)
        route = routes.get((request.mti, request.text(3), f60.txn_type))
        if route is None:
            return Outcome("12")  # no such message in the profile
        return await route()

    async def _checkout_poll(self, t: Admitted) -> Outcome:
        """4.13: the oldest checkout waiting for the terminal (00, with 4, 49 and 62), or
        25 when none does. One indexed read; nothing is written or kept."""
        checkouts = self.app.checkouts
        offer = await self.app.ctx.db.read_now(checkouts.waiting, t.terminal_id)
        return Outcome("25") if offer is None else _Offered("00", offer=offer)

    async def _checkout_sale(self, request: Message, t: Admitted, key: RequestKey) -> Outcome:
        """4.13: a sale whose 62 names a checkout of this terminal, of the same amount. The
        checkout is claimed in the database before the sale goes to the network (of two
        sales naming it, one wins, the other gets 94) and settled by the sale's own
        write; a repeated request gets its first answer (docs/protocol.md)."""
        a = self.acquirer
        assert a is not None  # for mypy: _route answers 12 without one
        ref = check_checkout_ref(request.binary(62) or b"")
        if ref is None:
            raise FormatError("a checkout reference is 1 to 32 printable ASCII bytes", field=62)
        amount, code = self._amount(request), request.text(57)
        card = None if code is not None else self._card(request, chip=True)  # bad: 30, unclaimed
        if (early := await a.desk.answered_before(t, key)) is not None:
            return early
        now, lapse = self.app.ctx.now(), claim_lapse(self.app.ctx)
        claimed = await a.committer.submit(
            lambda s: claim(s, t.terminal_id, key.batch_no, key.stan, ref, amount, now, lapse)
        )
        if isinstance(claimed, str):  # refused; or this very request answered meanwhile
            return await a.desk.answered_before(t, key) or Outcome(claimed)
        if card is None:
            assert code is not None  # for mypy
            return await a.wallet_sale(t, key, amount, code, claimed)
        return await a.sale(t, key, amount, card, checkout=claimed)

    @staticmethod
    def _need(request: Message, number: int) -> str:
        value = request.text(number)
        if value is None:
            raise FormatError("this message needs the field", field=number)
        return value

    def _key(self, request: Message, f60: f.Field60) -> RequestKey:
        canonical = "|".join(
            f"{n}={v.hex() if isinstance(v, bytes) else v}"
            for n, v in sorted(request.fields.items())
            if n != 64
        )
        return RequestKey(
            mti=request.mti,
            stan=request.text(11) or "",
            batch_no=f60.batch,
            fingerprint=self.app.ctx.keystore.token(f"{request.mti}|{canonical}", kind="request"),
        )

    def _amount(self, request: Message) -> Money:
        """Field 4 in the currency payments are taken in (49: ``156``, CNY, by default):
        the limits, fees and settlement are in that one currency."""
        currency = self.app.ctx.settings.currency
        amount, number = request.text(4), request.text(49) or _NUMERIC_OF.get(currency)
        if amount is None:
            raise FormatError("4 is required", field=4)
        if NUMERIC_CODES.get(number or "") != currency:
            raise FormatError(f"49 must be {_NUMERIC_OF.get(currency, currency)}", field=49)
        return Money(int(amount), currency)

    @staticmethod
    def _card(request: Message, *, chip: bool = False) -> Card:
        """The card of a request. ``chip``: a message of spec 4.10 (sale, balance,
        pre-auth, completion), which read from the chip (22 = 05x, 07x) must carry a
        well-formed 55 (and 23, else PSN 00), passed on to the issuer unverified."""
        code = request.text(57)
        if code is not None:  # a wallet code stands where the card would
            return Card(pan=code, expiry=None, entry_mode="03")
        track2, pan, expiry = request.text(35), request.text(2), request.text(14)
        where = 35 if pan is None else 2  # the field the card number comes from
        if track2 is not None:
            if "D" not in track2:
                raise FormatError("track 2 has no separator", field=35)
            track_pan, rest = track2.split("D", 1)
            pan, expiry = pan or track_pan, expiry or rest[:4]
        if pan is None:
            raise FormatError("a card number is required (2 or 35)", field=2)
        if not is_pan(pan):
            raise FormatError("a card number is 12 to 19 digits", field=where)
        mode = f.EntryMode.parse(request.text(22) or "")
        if chip and mode.mode in icc.CHIP_MODES:
            chip_data = request.binary(55)
            icc.request_tags(chip_data)  # 30 when missing or malformed
            return Card(pan, expiry, mode.mode, request.binary(52), chip_data,
                        icc.psn(request.text(23)))  # fmt: skip
        return Card(pan=pan, expiry=expiry, entry_mode=mode.mode, pin_block=request.binary(52))

    def _financial_answer(self, request: Message, outcome: Outcome) -> Message:
        now = self.app.ctx.now().astimezone(BUSINESS_TZ)
        acquirer_id = self.app.ctx.settings.acquirer_id
        fields = self._echo(request)
        fields.update(
            {
                12: now.strftime("%H%M%S"),
                13: now.strftime("%m%d"),
                32: acquirer_id,
                39: outcome.response_code,
            }
        )
        for number in (3, 4, 49):
            if (value := request.fields.get(number)) is not None:
                fields[number] = value
        if outcome.rrn:
            fields[37] = outcome.rrn
        if outcome.auth_code and outcome.response_code == "00":
            fields[38] = outcome.auth_code
        if outcome.business_date:
            fields[15] = outcome.business_date[5:7] + outcome.business_date[8:10]
        if outcome.issuer_id:
            fields[44] = f.field44(outcome.issuer_id, acquirer_id)
        if outcome.card_org:
            fields[63] = outcome.card_org
        if outcome.balance_minor is not None:
            fields[54] = f.Balance(outcome.balance_minor).build()
        if isinstance(outcome, _Offered) and outcome.offer is not None:  # 4.13's poll
            offer = outcome.offer
            fields[4] = f"{offer.amount_minor:012d}"
            fields[49] = _NUMERIC_OF[offer.currency]
            fields[62] = offer.checkout_ref.encode("ascii")
        if outcome.icc is not None:  # the issuer's answer to the chip: tag 91, the ARPC
            fields[55] = bytes.fromhex(outcome.icc)
        if outcome.balanced is not None:
            asked = f.SettlementTotals.parse(request.text(48) or "")
            fields[48] = f.SettlementTotals(
                replace(asked.domestic, flag=outcome.balanced[0]),
                replace(asked.foreign, flag=outcome.balanced[1]),
            ).build()
            fields.pop(4, None)
        return Message(_answer_mti(request), fields)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _echo(request: Message) -> dict[int, str | bytes]:
        """Every response echoes 11, 41, 42 and the request's 60."""
        return {n: v for n in (11, 41, 42, 60) if (v := request.fields.get(n)) is not None}

    def _refuse(self, request: Message, code: str) -> Answer:
        fields = self._echo(request)
        fields[39] = code
        return Answer(Message(_answer_mti(request), fields))

    def _encode(self, frame: Frame, answer: Answer) -> bytes:
        if answer.mac_key is not None and mac_required(answer.message):
            mak, method = answer.mac_key, answer.mac_method
            body = encode_with_mac(answer.message, lambda mab: compute_mac(method, mak, mab))
        else:
            body = encode(answer.message)
        head = reply_header(frame.header, must_sign_on=answer.must_sign_on)
        return reply_tpdu(frame.tpdu) + head + body

    def _log(
        self,
        mti: str | None,
        tid: str | None,
        stan: str | None,
        rc: str | None,
        started: float,
        problem: str | None,
    ) -> None:
        if not log.isEnabledFor(logging.INFO):
            return  # the line is built only for a log that shows it
        line: dict[str, object] = {
            "event": "message",
            "mti": mti,
            "tid": tid,
            "stan": stan,
            "rc": rc,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if problem:
            line["problem"] = problem
        log.info(self._json(line))

    def _json(self, line: dict[str, object]) -> str:
        """A log line, naming the host process last when there are several."""
        if self.process is not None:
            line["host"] = self.process
        return json.dumps(line)
