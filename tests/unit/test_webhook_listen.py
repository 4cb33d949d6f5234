"""The development webhook receiver verifies signatures and says so."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import httpx
import pytest

from tillpoint.cli.webhooks import receiver
from tillpoint.notify.webhooks import signature_header

SECRET = "whsec_test"
EVENT = json.dumps(
    {"id": 7, "type": "payment.succeeded", "data": {"object": "payment", "id": 3, "amount_minor": 1234,
     "currency": "CNY", "status": "succeeded"}}
).encode()  # fmt: skip


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver(SECRET))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_signed_event_is_printed_and_acknowledged(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = {"Tillpoint-Signature": signature_header(SECRET, EVENT, int(time.time()))}
    assert httpx.post(url, content=EVENT, headers=signed).status_code == 200
    printed = capsys.readouterr().out
    assert "7 payment.succeeded payment 3 1234 CNY succeeded" in printed
    assert "signature verified" in printed


def test_a_forged_event_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    forged = {"Tillpoint-Signature": signature_header("whsec_other", EVENT, int(time.time()))}
    assert httpx.post(url, content=EVENT, headers=forged).status_code == 400
    assert "SIGNATURE DOES NOT VERIFY" in capsys.readouterr().out
