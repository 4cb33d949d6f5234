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
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.errors import InvalidInput
from tillpoint.core.groupcommit import Overloaded
from tillpoint.core.ids import is_digits
from tillpoint.core.money import NUMERIC_CODES, Money
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.codec import (
    UNMACED_MTIS,
    Message,
    decode,
    decoded_mac_block,
    encode,
    encode_with_mac,
)
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.framing import (
    LENGTH_BYTES,
    MAX_FRAME_BYTES,
    Frame,
    frame_bytes,
    parse_frame,
    reply_header,
    reply_tpdu,
)
from tillpoint.iso8583.mac import compute_mac
from tillpoint.payments.acquirer import Acquirer, BatchTotals, Card, Outcome, RequestKey
from tillpoint.payments.models import PaymentKind
from tillpoint.security import tdes
from tillpoint.terminals.models import MacMethod
from tillpoint.terminals.signon import Admitted, HostRefusal

log = logging.getLogger("tillpoint.host")


@dataclass(frozen=True)
class HostLimits:
    max_connections: int = 2048
    idle_timeout_s: float = 300.0  # between messages on one connection
    read_timeout_s: float = 15.0  # to read one message once its length has arrived


@dataclass(frozen=True)
class Answer:
    message: Message
    mac_key: bytes | None = None  # MAC the answer under this MAK (None: no MAC)
    mac_method: MacMethod = MacMethod.ECB
    must_sign_on: bool = False


def _totals(t: f.Totals) -> BatchTotals:
    return BatchTotals(t.debit_minor, t.debit_count, t.credit_minor, t.credit_count)


def response_mti(mti: str) -> str:
    return f"{int(mti) + 10:04d}" if is_digits(mti) else "0000"


class TerminalHost:
    def __init__(
        self, app: Tillpoint, acquirer: Acquirer | None = None, limits: HostLimits | None = None
    ) -> None:
        self.app = app
        self.acquirer = acquirer
        self.limits = limits or HostLimits()
        self._active = 0

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= self.limits.max_connections:
            writer.close()
            return
        self._active += 1
        try:
            while True:
                try:  # asyncio.timeout: wait_for would start a task per read
                    async with asyncio.timeout(self.limits.idle_timeout_s):
                        head = await reader.readexactly(LENGTH_BYTES)
                    size = int.from_bytes(head, "big")
                    if not 0 < size <= MAX_FRAME_BYTES:
                        log.warning(json.dumps({"event": "frame_refused", "bytes": size}))
                        break
                    async with asyncio.timeout(self.limits.read_timeout_s):
                        payload = await reader.readexactly(size)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    break
                reply = await self.answer(payload)
                if reply is None:
                    break
                writer.write(frame_bytes(reply))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def answer(self, payload: bytes) -> bytes | None:
        """The reply payload for one request payload, or None to close the connection."""
        started = time.perf_counter()
        try:
            frame = parse_frame(payload)
        except FormatError as e:
            self._log(None, None, None, "closed", started, str(e))
            return None
        try:
            request = decode(frame.body)
        except FormatError as e:
            if e.tid is None or e.mti is None:
                self._log(e.mti, e.tid, None, "closed", started, str(e))
                return None
            reply = Answer(Message(response_mti(e.mti), {39: "30", 41: e.tid}))
            self._log(e.mti, e.tid, None, "30", started, str(e))
            return self._encode(frame, reply)
        try:
            answer = await self.handle(request, frame.body)
        except (FormatError, InvalidInput) as e:
            answer = self._refuse(request, "30")
            self._log(request.mti, request.text(41), request.text(11), "30", started, str(e))
            return self._encode(frame, answer)
        except Overloaded:
            answer = self._refuse(request, "96")
            self._log(request.mti, request.text(41), request.text(11), "96", started, "overloaded")
            return self._encode(frame, answer)
        except Exception:  # a bug or an outage: this terminal gets 96, the rest go on
            log.exception(
                json.dumps({"event": "host_error", "mti": request.mti, "tid": request.text(41)})
            )
            answer = self._refuse(request, "96")
            self._log(
                request.mti, request.text(41), request.text(11), "96", started, "internal error"
            )
            return self._encode(frame, answer)
        self._log(
            request.mti,
            request.text(41),
            request.text(11),
            answer.message.text(39),
            started,
            None,
        )
        return self._encode(frame, answer)

    # --- messages ---------------------------------------------------------------------

    async def handle(self, request: Message, body: bytes) -> Answer:
        """One request to its answer."""
        tid, mid, f60_text = request.text(41), request.text(42), request.text(60)
        if tid is None or mid is None or f60_text is None:
            raise FormatError("41, 42 and 60 are required", field=41 if tid is None else 42)
        f60 = f.Field60.parse(f60_text)
        if request.mti == "0800" and f60.network_code == f.SIGN_ON_KEYS:
            return await asyncio.to_thread(self._sign_on, request, tid, mid, f60)
        if request.mti == "0820" and f60.network_code == f.SIGN_OFF:
            action: Callable[[], None] = lambda: self.app.signon.sign_off(tid, mid)  # noqa: E731
            return await asyncio.to_thread(self._simple, request, action)
        if request.mti == "0820" and f60.network_code == f.ECHO:
            action = lambda: self.app.signon.check(tid, mid)  # noqa: E731
            return await asyncio.to_thread(self._simple, request, action)
        return await self._financial(request, body, tid, mid, f60)

    def _sign_on(self, request: Message, tid: str, mid: str, f60: f.Field60) -> Answer:
        operator = (request.text(63) or "001")[:3].strip()
        password = request.binary(52)
        try:
            if password is not None:  # operator sign-in, a Tillpoint extension
                self.app.signon.sign_in_operator(tid, mid, operator, password)
            done = self.app.signon.sign_on(tid, mid, operator)
        except HostRefusal as r:
            return self._refuse(request, r.response_code)
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
        return Answer(Message(response_mti(request.mti), fields))

    def _simple(self, request: Message, action: Callable[[], None]) -> Answer:
        try:
            action()
        except HostRefusal as r:
            return self._refuse(request, r.response_code)
        fields = self._echo(request)
        fields[39] = "00"
        return Answer(Message(response_mti(request.mti), fields))

    async def _financial(
        self, request: Message, body: bytes, tid: str, mid: str, f60: f.Field60
    ) -> Answer:
        try:
            admitted = self.app.signon.admitted(tid, mid)
            if admitted is None:  # not in memory: ask the database, off the event loop
                admitted = await self.app.signon.admit_soon(tid, mid)
        except HostRefusal as r:
            return Answer(
                self._refuse(request, r.response_code).message,
                must_sign_on=r.response_code == "A0",
            )
        method = admitted.mac_method
        mac, mab = request.binary(64), decoded_mac_block(body, request)
        if (
            mac is None
            or mab is None
            or not tdes.macs_equal(mac, compute_mac(method, admitted.mak, mab))
        ):
            return Answer(self._refuse(request, "A0").message, must_sign_on=True)
        outcome = await self._route(request, admitted, f60)
        return Answer(self._financial_answer(request, outcome), admitted.mak, method)

    async def _route(self, request: Message, t: Admitted, f60: f.Field60) -> Outcome:
        """Section 4's messages by (MTI, processing code, 60.1)."""
        if self.acquirer is None:
            return Outcome("12")
        a, key = self.acquirer, self._key(request, f60)
        if request.mti == "0400":
            return await a.reverse(t, key, "0100" if f60.txn_type in ("10", "11") else "0200")
        if request.mti == "0320" and f60.network_code == f.UPLOAD_END:
            return await a.end_upload(t, key, f.upload_count(request.text(48) or ""))
        if request.mti == "0320":
            return await a.upload(
                t, key, self._need(request, 37), self._need(request, 3), self._amount(request)
            )
        if request.mti == "0500" and f60.network_code == f.SETTLE:
            totals = f.SettlementTotals.parse(request.text(48) or "")
            return await a.settle_batch(t, key, _totals(totals.domestic), _totals(totals.foreign))
        routes: dict[tuple[str, str | None, str], Callable[[], Awaitable[Outcome]]] = {
            ("0200", "000000", "22"): lambda: a.sale(
                t, key, self._amount(request), self._card(request)
            ),
            ("0200", "310000", "01"): lambda: a.balance(t, self._card(request)),
            ("0200", "200000", "23"): lambda: a.void(
                t, key, self._amount(request), self._need(request, 37)
            ),
            ("0220", "200000", "25"): lambda: a.refund(
                t, key, self._amount(request), self._need(request, 37), self._card(request)
            ),
            ("0100", "030000", "10"): lambda: a.sale(
                t, key, self._amount(request), self._card(request), PaymentKind.PREAUTH
            ),
            ("0100", "200000", "11"): lambda: a.void(
                t, key, self._amount(request), self._need(request, 37), PaymentKind.PREAUTH
            ),
            ("0200", "000000", "20"): lambda: a.complete(
                t, key, self._amount(request), self._need(request, 38), self._card(request)
            ),
            ("0200", "200000", "21"): lambda: a.void(
                t, key, self._amount(request), self._need(request, 37), PaymentKind.COMPLETION
            ),
        }
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

    @staticmethod
    def _amount(request: Message) -> Money:
        amount, currency = request.text(4), request.text(49) or "156"
        if amount is None or currency not in NUMERIC_CODES:
            raise FormatError("4 and a known 49 are required", field=4 if amount is None else 49)
        return Money(int(amount), NUMERIC_CODES[currency])

    @staticmethod
    def _card(request: Message) -> Card:
        code = request.text(57)
        if code is not None:  # a wallet code stands where the card would
            return Card(pan=code, expiry=None, entry_mode="03")
        track2, pan, expiry = request.text(35), request.text(2), request.text(14)
        if track2 is not None:
            if "D" not in track2:
                raise FormatError("track 2 has no separator", field=35)
            track_pan, rest = track2.split("D", 1)
            pan, expiry = pan or track_pan, expiry or rest[:4]
        if pan is None:
            raise FormatError("a card number is required (2 or 35)", field=2)
        mode = f.EntryMode.parse(request.text(22) or "")
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
        if outcome.balanced is not None:
            asked = f.SettlementTotals.parse(request.text(48) or "")
            fields[48] = f.SettlementTotals(
                replace(asked.domestic, flag=outcome.balanced[0]),
                replace(asked.foreign, flag=outcome.balanced[1]),
            ).build()
            fields.pop(4, None)
        return Message(response_mti(request.mti), fields)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _echo(request: Message) -> dict[int, str | bytes]:
        """Every response echoes 11, 41, 42 and the request's 60."""
        return {n: v for n in (11, 41, 42, 60) if (v := request.fields.get(n)) is not None}

    def _refuse(self, request: Message, code: str) -> Answer:
        fields = self._echo(request)
        fields[39] = code
        return Answer(Message(response_mti(request.mti), fields))

    def _encode(self, frame: Frame, answer: Answer) -> bytes:
        if answer.mac_key is not None and answer.message.mti not in UNMACED_MTIS:
            mak, method = answer.mac_key, answer.mac_method
            body = encode_with_mac(answer.message, lambda mab: compute_mac(method, mak, mab))
        else:
            body = encode(answer.message)
        head = reply_header(frame.header, must_sign_on=answer.must_sign_on)
        return reply_tpdu(frame.tpdu) + head + body

    @staticmethod
    def _log(
        mti: str | None,
        tid: str | None,
        stan: str | None,
        rc: str | None,
        started: float,
        problem: str | None,
    ) -> None:
        line = {
            "event": "message",
            "mti": mti,
            "tid": tid,
            "stan": stan,
            "rc": rc,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if problem:
            line["problem"] = problem
        log.info(json.dumps(line))
