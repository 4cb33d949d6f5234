"""The host defends its port: per-address and per-pool connection limits, deadlines that
bytes short of a frame cannot move, a graceful stop without tracebacks, and an answer
or a clean close for any MTI and any body."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.e2e.test_host import sale
from tests.hosting import terminal

from tillpoint.app import Tillpoint
from tillpoint.host.server import HostLimits, TerminalHost
from tillpoint.iso8583 import framing
from tillpoint.iso8583.codec import Message, decode, encode, response_mti
from tillpoint.payments.acquirer import simulated

FLOOD = 2_100  # more than the 2,048 connections the host used to hold in all
DEADLINE_S = 30.0  # generous: how long a test waits for something that must happen

HostScenario = Callable[[TerminalHost, int], Awaitable[None]]


def run(app: Tillpoint, scenario: HostScenario, limits: HostLimits | None = None) -> None:
    async def main() -> None:
        acquirer = simulated(app)
        host = TerminalHost(app, acquirer, limits)
        server = await host.start("127.0.0.1", 0)
        try:
            await scenario(host, server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()
            acquirer.close()

    asyncio.run(main())


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most DEADLINE_S) for the host's books to say something."""
    async with asyncio.timeout(DEADLINE_S):
        while not condition():
            await asyncio.sleep(0.02)


async def flood(port: int, count: int, source: str = "127.0.0.1") -> list[asyncio.StreamWriter]:
    """``count`` connections that never send a byte."""
    writers: list[asyncio.StreamWriter] = []
    for start in range(0, count, 300):

        async def one() -> asyncio.StreamWriter | None:
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
                return w
            return None

        batch = await asyncio.gather(*(one() for _ in range(min(300, count - start))))
        writers += [w for w in batch if w is not None]
    return writers


@pytest.mark.parametrize(
    ("limits", "source"),
    [
        (None, "127.0.0.1"),  # the defaults; the terminal shares the flood's address
        (HostLimits(max_unproven_connections=32, max_unproven_per_address=32), "127.0.0.2"),
    ],
    ids=["same-address", "full-pool"],
)
def test_an_idle_flood_does_not_stop_a_terminal(
    demo: Tillpoint, limits: HostLimits | None, source: str
) -> None:
    lim = limits or HostLimits()

    async def scenario(host: TerminalHost, port: int) -> None:
        idle = await flood(port, FLOOD)
        assert len(idle) == FLOOD  # every connection was accepted by the kernel
        await until(lambda: host.connection_counts()["unproven"] > 0)
        assert host.connection_counts()["unproven"] <= lim.max_unproven_per_address
        t = terminal(port, local_address=source)
        assert (await t.sign_on()).text(39) == "00"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert host.connection_counts()["proven"] == 1  # the terminal left the crowd
        assert host.connection_counts()["unproven"] <= lim.max_unproven_connections
        await t.close()
        for w in idle:
            w.close()
        await until(
            lambda: host.connection_counts() == {"unproven": 0, "proven": 0, "addresses": 0}
        )

    run(demo, scenario, limits)


def test_bytes_short_of_a_frame_cannot_hold_a_connection(demo: Tillpoint) -> None:
    limits = HostLimits(first_frame_timeout_s=0.5, frame_timeout_s=0.5, idle_timeout_s=1.0)

    async def closed(reader: asyncio.StreamReader) -> bool:
        async with asyncio.timeout(DEADLINE_S):
            return await reader.read() == b""

    async def scenario(host: TerminalHost, port: int) -> None:
        # Silent from the start: closed by the first frame's deadline.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed(reader)
        writer.close()
        # One byte, then silence.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00")
        assert await closed(reader)
        writer.close()

        # One byte at a time, on a proven connection: the frame's deadline runs from
        # its first byte, so the drip cannot stretch it.
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        assert host.connection_counts()["proven"] == 1
        reader, writer = t._reader, t._writer
        assert reader is not None and writer is not None
        frame = framing.frame_bytes(framing.request_tpdu() + framing.header() + bytes(40))

        async def drip() -> None:
            for byte in frame:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.2)  # 44 bytes: 8.8 s, far beyond the 0.5 s

        dripping = asyncio.create_task(drip())
        assert await closed(reader)
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        await t.close()

        # Proven and then silent: closed by the idle time-out.
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        assert t._reader is not None
        assert await closed(t._reader)
        await t.close()
        await until(lambda: host.connection_counts()["addresses"] == 0)

    run(demo, scenario, limits)


def test_a_graceful_stop_logs_no_tracebacks(
    demo: Tillpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def main() -> None:
        acquirer = simulated(demo)
        server = await TerminalHost(demo, acquirer).start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        signed = [terminal(port, n) for n in (1, 2, 3)]
        for t in signed:
            assert (await t.sign_on()).text(39) == "00"
        assert (await signed[0].exchange(sale(signed[0]), with_mac=True)).text(39) == "00"
        _, silent = await asyncio.open_connection("127.0.0.1", port)  # no frame yet
        _, partial = await asyncio.open_connection("127.0.0.1", port)
        partial.write(b"\x00\x30\x60")  # a frame begun, never finished
        await asyncio.sleep(0.1)
        server.close()
        async with asyncio.timeout(DEADLINE_S):
            await server.wait_closed()
        acquirer.close()
        for t in signed:
            assert t._reader is not None
            assert await t._reader.read() == b""  # the host closed it
            await t.close()
        silent.close()
        partial.close()

    asyncio.run(main())
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == []
    assert "Traceback" not in caplog.text


def test_a_connection_accepted_as_the_stop_comes_ends_quietly(
    demo: Tillpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """A terminal connects in the same instant the stop comes: the event loop hears both
    in one wake-up, the connection first, so its handler is made only after the serving
    coroutine has returned and is cancelled before it ever runs. The stop stays quiet
    (no error, no refusal logged) and the connection is closed, not left open."""
    caplog.set_level(logging.INFO)

    async def stop_as_one_arrives() -> socket.socket:
        loop = asyncio.get_running_loop()
        acquirer = simulated(demo)
        server = await TerminalHost(demo, acquirer).start("127.0.0.1", 0)
        bell, ring = socket.socketpair()  # the stop, as a signal wakes `serve`
        stop = loop.create_future()
        loop.add_reader(bell, stop.set_result, None)
        client = socket.create_connection(server.sockets[0].getsockname())  # the kernel accepts
        ring.send(b"!")
        await stop  # one wake-up: the listening socket's event, then the bell's
        loop.remove_reader(bell)
        bell.close()
        ring.close()
        server.close()
        await server.wait_closed()
        acquirer.close()
        return client  # returning now, as `serve` does

    for _ in range(3):
        with contextlib.closing(asyncio.run(stop_as_one_arrives())) as client:
            client.settimeout(DEADLINE_S)
            with contextlib.suppress(ConnectionResetError):  # aborted, or closed
                assert client.recv(1) == b""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- any MTI, any body: an answer or None, never an exception ----------------------------

_BASE = {11: "000001", 41: "10000001", 42: "898310054110001", 60: "22000001000"}
_MTIS = st.integers(0, 9999).map(lambda n: f"{n:04d}")
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        3: st.sampled_from(["000000", "310000", "200000", "030000"]),
        4: st.integers(0, 10**12 - 1).map(lambda n: f"{n:012d}"),
        39: st.sampled_from(["00", "A0", "98"]),
        48: st.just("0" * 62),
        52: st.binary(min_size=8, max_size=8),
        57: st.just("280000000000000001"),
        62: st.binary(max_size=60),
        63: st.just("001"),
        64: st.binary(min_size=8, max_size=8),
    },
)


def _body(mti: str, fields: dict[int, str | bytes]) -> bytes:
    """A well-formed message under any MTI (the codec encodes only MTIs it knows)."""
    return bytes.fromhex(mti) + encode(Message("0800", {**_BASE, **fields}))[2:]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mti=_MTIS,
    fields=_FIELDS,
    junk=st.one_of(st.none(), st.binary(max_size=200)),
    raw_mti=st.binary(min_size=2, max_size=2),
)
def test_any_mti_and_body_gets_an_answer_or_a_close(
    demo: Tillpoint,
    mti: str,
    fields: dict[int, str | bytes],
    junk: bytes | None,
    raw_mti: bytes,
) -> None:
    """Random MTIs (BCD or not) over well-formed and random bodies, fed to
    ``TerminalHost.answer``: bytes whose MTI answers the request, or None."""
    host = TerminalHost(demo)
    head = framing.request_tpdu() + framing.header()
    payloads = [head + _body(mti, fields)]
    if junk is not None:
        payloads += [head + bytes.fromhex(mti) + junk, head + raw_mti + junk]

    async def feed() -> list[bytes | None]:
        return [await host.answer(p, "192.0.2.1") for p in payloads]

    errors = _Errors()
    logging.getLogger("tillpoint").addHandler(errors)
    try:
        replies = asyncio.run(feed())
    finally:
        logging.getLogger("tillpoint").removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []  # no bug path was taken
    for payload, reply in zip(payloads, replies, strict=True):
        assert reply is None or isinstance(reply, bytes)
        if reply is not None:
            answer = decode(framing.parse_frame(reply).body)
            asked = framing.parse_frame(payload).body[:2].hex()
            assert answer.mti == response_mti(asked)
