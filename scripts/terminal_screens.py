"""The virtual terminal's screenshots in docs/terminal.md, made again.

    .venv/bin/python scripts/terminal_screens.py [--out docs]

Runs the terminal host of a fresh demo database (SQLite, in a temporary folder) in
this process, drives the POS screen (Textual's pilot) through a sale signed on the
signature pad with the mouse and a supervisor's void in each layout, 120 x 40 and
80 x 24, and in Chinese at 120 x 40, and saves each screen (and the pad's, in English)
as Textual's SVG and as a PNG rendered by Debian's Chromium (nothing is fetched
from elsewhere: the SVG's web fonts give way to the machine's DejaVu Sans Mono and Noto
Sans Mono CJK).

Rich's SVG gives each run of text the width of its characters, counting a Chinese one
as one column; the terminal gives it two. So before rendering, each run's
``textLength`` is set from its columns, else Chinese text is squeezed into half its
width and overlaps.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import math
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.cells import cell_len

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.i18n import set_locale
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import ensure_demo
from tillpoint.host.server import TerminalHost
from tillpoint.payments.acquirer import simulated
from tillpoint.terminal.device import Device, DeviceState
from tillpoint.terminal.pad import SignaturePad, SignatureScreen
from tillpoint.terminal.tui import PosTerminal

CHROMIUM = "/usr/bin/chromium"
DEBIT = "6212340000000000012"
_TEXT = re.compile(r'(<text [^>]*?textLength=")([\d.]+)("[^>]*>)([^<]*)(</text>)')


def run_with_host(app: Tillpoint, scenario: Callable[[int], Awaitable[None]]) -> None:
    async def main() -> None:
        acquirer = simulated(app)
        server = await TerminalHost(app, acquirer).start("127.0.0.1", 0)
        try:
            await scenario(server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()
            acquirer.close()

    asyncio.run(main())


def handwriting(cols: int, rows: int) -> list[list[tuple[int, int]]]:
    """Strokes that look like a signature on a pad of ``cols`` x ``rows`` cells: a
    run of cursive loops, a flourish and an underline."""
    turn = 2 * math.pi
    loops = [
        (round(cols * (0.08 + 0.5 * t) + cols / 24 * math.sin(turn * 5 * t)),
         round(rows * (0.5 + 0.28 * math.cos(turn * 5 * t) * (1 - 0.5 * t))))
        for t in (i / 150 for i in range(151))
    ]  # fmt: skip
    flourish = [
        (round(cols * (0.62 + 0.28 * t)), round(rows * (0.5 - 0.3 * math.sin(turn * 0.75 * t))))
        for t in (i / 40 for i in range(41))
    ]
    underline = [
        (round(cols * (0.1 + 0.8 * t)), round(rows * (0.86 - 0.06 * t))) for t in (0, 0.5, 1)
    ]
    return [loops, flourish, underline]


async def session(
    port: int,
    state: Path,
    size: tuple[int, int],
    svg: Path,
    pad_svg: Path | None = None,
    till: tuple[Tillpoint, Path] | None = None,
) -> None:
    """Sign in (``till``: then the shop's till hands the terminal an amount, pictured
    and taken back), sell 1,234.56 by chip, sign it on the pad (``pad_svg``: the pad's
    picture), void it with the supervisor's password, and stop on the void's approval,
    the printer showing its merchant copy."""
    loaded = DeviceState.load(state) if state.exists() else DeviceState.demo()
    loaded.port = port
    app = PosTerminal(Device(loaded, state), checkout_every_s=0.2)

    async def until(text: str) -> None:
        for _ in range(400):
            if text in app.shown:
                return
            await pilot.pause(0.025)
        raise SystemExit(f"the screen never said {text!r}:\n{app.shown}")

    async def when(condition: Callable[[], bool], what: str) -> None:
        for _ in range(400):
            if condition():
                return
            await pilot.pause(0.025)
        raise SystemExit(f"never came: {what}:\n{app.shown}")

    async def keys(*typed: str) -> None:
        for k in typed:
            await (pilot.press(k) if k in ("enter", "escape") else pilot.press(*k))

    async with app.run_test(size=size) as pilot:
        await until("001")  # the operator sign-in, after the sign-on
        await pilot.pause(0.5)  # the sign-on
        await keys("enter", "1234", "enter")  # cashier 001
        await pilot.pause(0.5)
        if till is not None:  # the cashier link: the till hands over 88.88
            tp, till_svg = till
            made = tp.checkouts.create(loaded.tid, Money.parse("88.88"), f"TILL-{size[0]}")
            await until("Amount from the till")
            await pilot.pause(0.3)
            app.save_screenshot(str(till_svg))
            tp.checkouts.cancel(loaded.tid, made.id)
            await keys("escape")
            await until("Management")
        await keys("1", "123456", "enter", "1", "2", "123456", "enter")  # a sale
        await when(lambda: isinstance(app.screen, SignatureScreen), "the signature pad")
        await pilot.pause(0.3)
        pad = app.screen.query_one(SignaturePad)
        for stroke in handwriting(*pad.cells):
            await pilot.mouse_down("#pad", offset=stroke[0])
            for point in stroke[1:]:
                await pilot.hover("#pad", offset=point)
            await pilot.mouse_up("#pad", offset=stroke[-1])
        if pad_svg is not None:
            app.save_screenshot(str(pad_svg))
        await pilot.click("#sign-confirm")
        await when(lambda: app.device.state.journal[-1].signed, "the signature kept")
        await pilot.pause(0.3)
        await keys("enter", "2", "123456", "enter", "enter", "enter", "1", "2")  # its void
        await pilot.pause(1.0)
        app.save_screenshot(str(svg))
        await app.action_quit()


def columns_fixed(svg: str) -> str:
    def fix(m: re.Match[str]) -> str:
        text = html.unescape(m.group(4))
        if not text or cell_len(text) == len(text):
            return m.group(0)
        width = float(m.group(2)) / len(text) * cell_len(text)
        return f"{m.group(1)}{width:.1f}{m.group(3)}{m.group(4)}{m.group(5)}"

    fonts = '"DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace'
    fixed = _TEXT.sub(fix, svg)
    return fixed.replace("font-family: Fira Code, monospace;", f"font-family: {fonts};")


def to_png(svgs: list[Path]) -> None:
    from playwright.sync_api import Route, sync_playwright

    def refuse(route: Route) -> None:
        route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page()
        page.route(re.compile(r"^https?://"), refuse)
        for svg in svgs:
            text = columns_fixed(svg.read_text())
            box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', text)
            assert box is not None
            page.set_viewport_size({"width": int(float(box[1])), "height": int(float(box[2]))})
            page.set_content(text)
            page.locator("svg").screenshot(path=str(svg.with_suffix(".png")))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    shots: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, database_url=f"sqlite:///{tmp}/demo.db", demo=True, locale="en",
            network_dir=f"{tmp}/network",
        )  # fmt: skip
        app = open_app(settings)
        ensure_demo(app, 1)
        screens = [
            ("en", (120, 40), "terminal-120x40-en", "terminal-pad-120x40-en"),
            ("en", (80, 24), "terminal-80x24-en", "terminal-pad-80x24-en"),
            ("zh_CN", (120, 40), "terminal-120x40-zh", None),
        ]
        tills = {(120, 40): "terminal-till-120x40-en", (80, 24): "terminal-till-80x24-en"}

        async def scenario(port: int) -> None:
            for locale, size, name, pad_name in screens:
                set_locale(locale)
                os.environ["TILLPOINT_LOCALE"] = locale
                svg = Path(tmp) / f"{name}.svg"
                pad_svg = Path(tmp) / f"{pad_name}.svg" if pad_name else None
                till_svg = Path(tmp) / f"{tills[size]}.svg" if locale == "en" else None
                till = (app, till_svg) if till_svg else None
                await session(port, Path(tmp) / "terminal.json", size, svg, pad_svg, till)
                shots.extend(p for p in (svg, pad_svg, till_svg) if p is not None)

        try:
            run_with_host(app, scenario)
        finally:
            app.close()
        to_png(shots)
        args.out.mkdir(parents=True, exist_ok=True)
        for svg in shots:
            png = svg.with_suffix(".png")
            (args.out / png.name).write_bytes(png.read_bytes())
            print(args.out / png.name)


if __name__ == "__main__":
    main()
