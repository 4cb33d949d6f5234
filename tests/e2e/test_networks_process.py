"""The card network and wallet simulators in a process of their own: `tillpoint serve
--demo` starts them as its child and sells through its network link (a card sale with
a PIN, a wallet's QR order paid on the customer page); `tillpoint networks serve` runs
alone, and `serve` uses it when TILLPOINT_NETWORKS_ADDRESS says where it is."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from bench.ports import free_port, wait_for
from tests.e2e.test_host import sale
from tests.e2e.test_serve import serve_env, served
from tests.integration.test_network_link import card

from tillpoint.core.settings import DEMO_MASTER_KEY
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.networks.held import held_charges
from tillpoint.networks.link import NetworkLink
from tillpoint.security.keystore import Keystore
from tillpoint.terminal.client import TerminalClient


def _sell(iso_port: int, n: int = 1) -> str:
    async def go() -> str:
        t = TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=iso_port)
        try:
            assert (await t.sign_on()).text(39) == "00"
            answer = await t.exchange(sale(t, pin="123456", entry="051"), with_mac=True)
            assert answer.text(39) == "00"
            return answer.text(37) or ""
        finally:
            await t.close()

    return asyncio.run(go())


def _api(
    base: str, key: str, method: str, path: str, body: dict[str, object] | None = None
) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - our own server
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                 "Idempotency-Key": f"networks-{path}-{method}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - our own server
        return json.load(r)  # type: ignore[no-any-return]


def _networks_port(log: str) -> int:
    found = re.search(r"simulators on 127\.0\.0\.1:(\d+), a child process", log)
    assert found is not None, log[-2000:]
    return int(found.group(1))


def test_serve_sells_through_its_networks_child(tmp_path: Path) -> None:
    with served(tmp_path, 2, host_workers=2) as s:
        port = _networks_port((tmp_path / "serve.log").read_text())
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # it listens
        rrn = _sell(s.iso_port)
        made = subprocess.run(
            [sys.executable, "-m", "tillpoint", "keys", "create", "--role", "merchant_owner",
             "--merchant", demo_mid(1), "--name", "networks test", "--json"],
            env={**s.env, "TILLPOINT_DEMO": "1"}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(made.stdout)["secret"]
        p = _api(s.base, key, "POST", "/v1/payments",
                 {"amount_minor": 2_500, "flow": "merchant_presented"})  # fmt: skip
        assert p["status"] == "pending" and p["qr_code"].startswith(s.base + "/simulator/qr/")
        page = urllib.parse.urlparse(p["qr_code"]).path
        with urllib.request.urlopen(s.base + page, timeout=30) as r:  # noqa: S310
            assert "25.00" in r.read().decode()
        form = urllib.parse.urlencode({"wallet": "WXP", "decision": "approve"}).encode()
        with urllib.request.urlopen(s.base + page, data=form, timeout=30) as r:  # noqa: S310
            assert "支付成功" in r.read().decode()  # after the redirect: paid
        done = _api(s.base, key, "GET", f"/v1/payments/{p['id']}")
        assert (done["status"], done["method"]) == ("succeeded", "wechat")
        # the networks' own books, kept by the child
        charges = held_charges(tmp_path / "serve.network")
        assert charges[rrn] == 100 and charges[done["rrn"]] == 2_500
        # the child dies: serve starts it again, and the next sale waits for the link.
        # Its port stays serve's while none runs: no other program can take it.
        child = _child_of(tmp_path)
        os.kill(child, signal.SIGKILL)
        while not _gone(child):  # its sockets close with it
            time.sleep(0.01)
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        with pytest.raises(OSError, match="in use"), squatter:
            squatter.bind(("127.0.0.1", port))
        again = _sell(s.iso_port, 2)
        assert again in held_charges(tmp_path / "serve.network")
        assert "networks_process_died" in (tmp_path / "serve.log").read_text()
    # serve stopped its child
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        still_there = True
    except OSError:
        still_there = False
    assert not still_there


def _gone(pid: int) -> bool:
    """Dead (a zombie holds no sockets) or reaped."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().split(") ")[1][0] == "Z"
    except OSError:
        return True


def _child_of(tmp_path: Path) -> int:
    """The pid of the networks process serve started for the database in ``tmp_path``."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"--with-parent" in command and str(tmp_path).encode() in environ:
            return int(proc.name)
    raise AssertionError("no networks child")


def test_networks_serve_alone_and_serve_on_it(tmp_path: Path) -> None:
    """`tillpoint networks serve` answers a link opened with the same master key; a
    `serve` told its address (TILLPOINT_NETWORKS_ADDRESS) sells through it and starts
    no child of its own."""
    port = free_port()
    env = serve_env(tmp_path)
    with (tmp_path / "networks.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "networks", "serve", "--demo", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(port)

            async def authorise() -> str:
                link = await NetworkLink(
                    ("127.0.0.1", port), Keystore(DEMO_MASTER_KEY), lambda: date(2026, 11, 25)
                ).open()
                try:
                    return (await link.cards.authorise(card("990000000001"))).response_code
                finally:
                    link.close()

            assert asyncio.run(authorise()) == "00"
            with served(tmp_path, 1, 2, TILLPOINT_NETWORKS_ADDRESS=f"127.0.0.1:{port}") as s:
                rrn = _sell(s.iso_port)
            assert "a child process" not in (tmp_path / "serve.log").read_text()
            assert set(held_charges(tmp_path / "serve.network")) == {"990000000001", rrn}
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    text = (tmp_path / "networks.log").read_text()
    assert proc.returncode == 0, text
    assert f"simulators on 127.0.0.1:{port}" in text and "Traceback" not in text
    assert "6212340000000000012" not in text  # no card number in its log
