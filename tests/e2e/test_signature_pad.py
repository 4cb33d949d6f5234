"""The screen terminal's signature pad (4.11) against a real host over TCP, driven by
Textual's pilot at 120 x 40 and 80 x 24: after an approved chip sale the cardholder
signs with the mouse (or types a name), clears, confirms or skips; what is confirmed is
uploaded and kept with the payment; a small contactless sale asks for no signature."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.e2e.test_terminal import device_at, keys, until
from tests.hosting import run_with_host
from textual.pilot import Pilot

from tillpoint.app import Tillpoint
from tillpoint.payments.models import Payment, PaymentSignature
from tillpoint.payments.signatures import image_problem
from tillpoint.terminal.pad import COMPACT_CELLS, FULL_CELLS, SignaturePad, SignatureScreen
from tillpoint.terminal.tui import PosTerminal


def pad_of(app: PosTerminal) -> SignaturePad:
    assert isinstance(app.screen, SignatureScreen), app.screen
    return app.screen.query_one(SignaturePad)


def fits(app: PosTerminal, size: tuple[int, int]) -> None:
    """The pad, its hint and its buttons are inside the window."""
    for selector in ("#sign", "#pad", "#sign-hint", "#sign-name", "#sign-confirm"):
        region = app.screen.query_one(selector).region
        assert region.right <= size[0] and region.bottom <= size[1], (selector, region, size)
        assert region.x >= 0 and region.y >= 0


async def sign_in_and_sell(app: PosTerminal, pilot: Pilot[None], amount: str, how: str) -> None:
    """Operator 001, then a sale (``sell``)."""
    await until(app, pilot, "Operator no.")
    await keys(pilot, "enter", "1234", "enter")
    await until(app, pilot, "Management")
    await sell(app, pilot, amount, how)


async def sell(app: PosTerminal, pilot: Pilot[None], amount: str, how: str) -> None:
    """A sale of ``amount`` (its digits) with the first test card read by ``how`` (2
    inserted, 3 tapped), with the PIN unless tapped for at most 1,000.00."""
    await keys(pilot, "1", amount, "enter", "1", how)
    if how != "3" or int(amount) > 100_000:
        await keys(pilot, "123456", "enter")


async def stroke(pilot: Pilot[None], *points: tuple[int, int]) -> None:
    """Press at the first point, move through the others, release at the last."""
    await pilot.mouse_down("#pad", offset=points[0])
    for p in points[1:]:
        await pilot.hover("#pad", offset=p)
    await pilot.mouse_up("#pad", offset=points[-1])


def signatures(tp: Tillpoint) -> dict[str, bytes]:
    """The payments' signatures, by RRN."""
    with tp.ctx.db.read() as s:
        rows = s.execute(
            select(Payment.rrn, PaymentSignature.image).join(
                PaymentSignature, PaymentSignature.payment_id == Payment.id
            )
        ).all()
    return {rrn: bytes(image) for rrn, image in rows}


@pytest.mark.screen
def test_the_pad_at_120_by_40_signed_with_the_mouse(demo: Tillpoint, tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()
    sold: list[str] = []

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"))
        async with app.run_test(size=(120, 40)) as pilot:
            await sign_in_and_sell(app, pilot, "8888", "2")
            await until(app, pilot, "please sign on the pad")
            await pilot.pause(0.1)
            pad = pad_of(app)
            assert pad.cells == FULL_CELLS and pad.content_region.size == FULL_CELLS
            fits(app, (120, 40))
            # Nothing signed: confirm says so and stays.
            await pilot.click("#sign-confirm")
            assert "Nothing signed yet" in str(app.screen.query_one("#sign-hint").render())
            # A scribble, cleared; then the signature.
            await stroke(pilot, (10, 10), (20, 12))
            assert pad.ink and not pad.empty
            await pilot.click("#sign-clear")
            assert pad.empty and not pad.ink
            await stroke(pilot, (6, 14), (14, 4), (20, 15), (30, 5), (40, 14))
            await stroke(pilot, (50, 8), (70, 8), (90, 12))
            await stroke(pilot, (60, 17))  # a dot
            assert len(pad.strokes) == 3 and len(pad.ink) > 100
            drawn = "".join(str(pad.render()).split())
            assert drawn and all(0x2800 < ord(c) <= 0x28FF for c in drawn)  # braille dots
            app.save_screenshot(str(shots / "pad-120x40.svg"))
            stan = app.device.client.stan
            await pilot.click("#sign-confirm")
            await until(app, pilot, "Signature sent")
            assert not isinstance(app.screen, SignatureScreen)
            assert app.device.client.stan > stan  # the 0820s took STANs of their own
            merchant = app.slips[-1]
            assert "电子签名已上送 SIGNED ON SCREEN" in merchant and "_" * 32 not in merchant
            assert "Slip printed: ask for the signature" not in app.shown
            sale = app.device.state.journal[-1]
            assert sale.signed
            sold.append(sale.rrn)
            await keys(pilot, "enter")
            await until(app, pilot, "Management")
            # Skipped: the paper slip is signed; nothing is uploaded.
            await sell(app, pilot, "1200", "2")
            await until(app, pilot, "please sign on the pad")
            await pilot.press("escape")
            await until(app, pilot, "Slip printed: ask for the signature")
            assert "_" * 32 in app.slips[-1] and not app.device.state.journal[-1].signed
            await app.action_quit()

    run_with_host(demo, scenario)
    kept = signatures(demo)
    assert list(kept) == sold
    assert image_problem(kept[sold[0]]) is None


@pytest.mark.screen
def test_the_pad_at_80_by_24_with_a_typed_name(demo: Tillpoint, tmp_path: Path) -> None:
    sold: list[str] = []

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"))
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in_and_sell(app, pilot, "120000", "3")  # 1,200.00 tapped: signed
            await until(app, pilot, "please sign on the pad")
            await pilot.pause(0.1)
            pad = pad_of(app)
            assert pad.cells == COMPACT_CELLS and pad.content_region.size == COMPACT_CELLS
            fits(app, (80, 24))
            await pilot.click("#sign-name")
            await pilot.press(*"Li Si", "enter")
            assert pad.named is not None and pad.ink and not pad.strokes
            assert "drawn as your signature" in str(app.screen.query_one("#sign-hint").render())
            typed_digits = app.device.client.stan
            await pilot.click("#sign-confirm")
            await until(app, pilot, "Signature sent")
            assert app.device.client.stan > typed_digits
            sold.append(app.device.state.journal[-1].rrn)
            await keys(pilot, "enter")
            await until(app, pilot, "Management")  # the name's keys did not reach the keypad
            # A tapped sale up to 1,000.00 needs no signature: no pad.
            await sell(app, pilot, "5000", "3")
            await until(app, pilot, "No signature required")
            assert not isinstance(app.screen, SignatureScreen)
            await app.action_quit()

    run_with_host(demo, scenario)
    kept = signatures(demo)
    assert list(kept) == sold
    assert image_problem(kept[sold[0]]) is None
