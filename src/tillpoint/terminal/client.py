"""A terminal's side of the POS 8583 profile, over asyncio TCP.

It holds what a real terminal holds: its TID, MID, TMK, STAN counter, batch number and
the working keys of its last sign-on, and it checks every answer's MAC. The virtual
terminal, the tests and the benchmarks all talk to the host through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass, field, replace

from tillpoint.core.i18n import N_, _
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583 import framing
from tillpoint.iso8583.codec import Message, decode, encode, encode_with_mac, mac_block
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.mac import MacMethod, compute_mac
from tillpoint.security import tdes

DEFAULT_TIMEOUT_S = 30.0
#: The requests that carry field 59 (spec 4.12), besides the sign-on: financial ones.
PLACED_MTIS = frozenset({"0100", "0200", "0220", "0400"})


class TerminalError(Exception):
    """The host's answer could not be trusted (bad MAC, bad key check value, garbage)."""

    def __init__(self, message: str, /, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message, self.params = message, params

    def localized(self) -> str:
        return _(self.message).format(**self.params)


def explain(error: BaseException) -> str:
    """Why a talk with the host failed, for a person: ours translated, the system's as
    it says it (a refused connection, a time-out)."""
    if isinstance(error, TerminalError):
        return error.localized()
    return str(error) or type(error).__name__


@dataclass
class WorkingKeys:
    pik: bytes = field(repr=False)  # keys never in a repr, a log line or a traceback
    mak: bytes = field(repr=False)
    tdk: bytes = field(repr=False)


@dataclass
class TerminalClient:
    tid: str
    mid: str
    tmk: bytes = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 5800
    mac_method: MacMethod = MacMethod.ECB
    operator: str = "001"
    stan: int = 0
    batch: str = "000001"
    keys: WorkingKeys | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    local_address: str | None = None  # connect from this address (None: the system's choice)
    # Where the terminal says it is (field 59), on its sign-on and financial requests;
    # without an IP address of its own, the one it reaches the host from is added.
    place: f.Place | None = None
    _placed: tuple[f.Place, str] | None = field(default=None, repr=False)
    _reader: asyncio.StreamReader | None = field(default=None, repr=False)
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)
    last_header: bytes = b""

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        local = None if self.local_address is None else (self.local_address, 0)
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, local_addr=local
        )
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._reader = self._writer = None

    def next_stan(self) -> str:
        self.stan = self.stan % 999_999 + 1
        return f"{self.stan:06d}"

    def mac(self, mab: bytes) -> bytes:
        if self.keys is None:
            raise TerminalError(N_("The terminal is not signed on"))
        return compute_mac(self.mac_method, self.keys.mak, mab)

    async def send_raw(self, payload: bytes) -> bytes:
        """One framed exchange: the reply payload (after the length prefix)."""
        if self._writer is None or self._reader is None:
            reader, writer = await self.connect()
        else:
            reader, writer = self._reader, self._writer
        writer.write(framing.frame_bytes(payload))
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(2), self.timeout_s)
        return await asyncio.wait_for(
            reader.readexactly(int.from_bytes(head, "big")), self.timeout_s
        )

    def place_field(self) -> str | None:
        """Field 59 for ``place`` (None without one), built once per place."""
        place = self.place
        if place is None:
            return None
        if self._placed is None or self._placed[0] is not place:
            located = place
            if place.ip is None and (own := self._own_address()) is not None:
                located = replace(place, ip=own)
            self._placed = (place, located.build())
        return self._placed[1]

    def _own_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address this machine reaches the host from (a datagram socket's
        ``connect`` picks the route and sends nothing), or None when it cannot say."""
        try:
            if self.local_address is not None:
                return ipaddress.ip_address(self.local_address)
            family, kind, proto, _, where = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_DGRAM
            )[0]
            with socket.socket(family, kind, proto) as probe:
                probe.connect(where)
                own = probe.getsockname()[0]
            return ipaddress.ip_address(own.split("%")[0])
        except (OSError, ValueError, IndexError):
            return None

    def _placed_message(self, message: Message) -> Message:
        """A financial request with field 59, unless it has one or there is no place."""
        if message.mti not in PLACED_MTIS or 59 in message.fields:
            return message
        text = self.place_field()
        return message if text is None else Message(message.mti, {**message.fields, 59: text})

    async def exchange(self, message: Message, *, with_mac: bool) -> Message:
        message = self._placed_message(message)
        body = encode_with_mac(message, self.mac) if with_mac else encode(message)
        answer, frame_body = await self._send(body)
        mac = answer.binary(64)
        if (
            with_mac
            and mac is not None
            and not tdes.macs_equal(mac, self.mac(mac_block(frame_body)))
        ):
            raise TerminalError(N_("The answer's MAC is wrong"))
        return answer

    async def _send(self, body: bytes) -> tuple[Message, bytes]:
        reply = await self.send_raw(framing.request_tpdu() + framing.header() + body)
        frame = framing.parse_frame(reply)
        self.last_header = frame.header
        return decode(frame.body), frame.body

    def sign_on_message(self, password: str | None = None) -> bytes:
        """The 0800's body, MACed under the TMK (spec 4.1: it proves the terminal holds
        its master key), with the operator's password in 52 when given."""
        fields = self._base("00", f.SIGN_ON_KEYS)
        fields[63] = self.operator
        if (place := self.place_field()) is not None:
            fields[59] = place
        if password is not None:
            if self.keys is None:
                raise TerminalError(N_("The terminal is not signed on"))
            fields[52] = tdes.encrypt_pin_block(
                self.keys.pik, password, f.operator_account(self.tid)
            )
        return encode_with_mac(
            Message("0800", fields), lambda mab: compute_mac(self.mac_method, self.tmk, mab)
        )

    def _base(self, txn_type: str, network_code: str) -> dict[int, str | bytes]:
        return {
            11: self.next_stan(),
            41: self.tid,
            42: self.mid,
            60: f.Field60(txn_type, self.batch, network_code).build(),
        }

    async def sign_on(self, password: str | None = None) -> Message:
        """签到: fresh working keys under the TMK, each checked against its KCV. The
        request carries its MAC under the TMK; the answer carries none. With a password
        it is also the operator's sign-in (a Tillpoint extension): the password goes in
        field 52 under the PIK of the current sign-on."""
        answer, _ = await self._send(self.sign_on_message(password))
        if answer.text(39) != "00":
            return answer
        try:
            parts = f.split_key_block(answer.binary(62) or b"")
        except FormatError as e:
            raise TerminalError(N_("The key block is malformed")) from e
        keys = [tdes.decrypt_ecb(self.tmk, enc) for enc, _ in parts]
        if any(tdes.kcv(k) != check for k, (_, check) in zip(keys, parts, strict=True)):
            raise TerminalError(N_("A working key fails its check value"))
        self.keys = WorkingKeys(*keys)
        self.batch = f.Field60.parse(answer.text(60) or "").batch
        return answer

    async def sign_off(self) -> Message:
        answer = await self.exchange(Message("0820", self._base("00", f.SIGN_OFF)), with_mac=False)
        self.keys = None
        return answer

    async def echo(self) -> Message:
        return await self.exchange(Message("0820", self._base("00", f.ECHO)), with_mac=False)
