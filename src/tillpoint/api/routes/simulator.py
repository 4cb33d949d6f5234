"""The wallet simulator's customer page: what a phone shows after scanning a
merchant-presented QR code. The "customer" picks a wallet and pays or declines; the
simulator then notifies the acquirer, as a real wallet calls back its acquirer.

Only present when the acquirer runs on the wallet simulator, in this process or in the
networks process behind the network link (never in front of a real wallet). Not part
of the REST API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from tillpoint.api.deps import Svc
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.http.text import Text
from tillpoint.networks.wallets import QrOrder, WalletApp, WalletOrg

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
WALLETS = (
    (WalletOrg.ALIPAY.value, "支付宝", "Alipay"),
    (WalletOrg.WECHAT.value, "微信支付", "WeChat Pay"),
    (WalletOrg.UNIONPAY_QR.value, "云闪付", "UnionPay QR"),
)


def _page(order: QrOrder | None, status: int = 200) -> HTMLResponse:
    html = _env.get_template("simulator_qr.html").render(
        order=order,
        state=order.state.value if order else None,
        amount=order.amount.plain() if order else "",
        expires=order.expires_at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")
        if order
        else "",
        wallets=WALLETS,
    )
    return HTMLResponse(html, status_code=status)


def _simulator(svc: Svc) -> WalletApp | None:
    wallets = svc.acquirer.wallets
    return wallets if isinstance(wallets, WalletApp) else None


@router.get("/simulator/qr/{token}", response_class=HTMLResponse)
async def order_page(token: Text, svc: Svc) -> HTMLResponse:
    sim = _simulator(svc)
    order = await sim.find_order(token, svc.tp.ctx.now()) if sim else None
    return _page(order, 200 if order else 404)


@router.post("/simulator/qr/{token}", response_model=None)
async def answer_order(
    token: Text,
    svc: Svc,
    wallet: Annotated[WalletOrg, Form()],
    decision: Annotated[Text, Form(pattern="^(approve|decline)$")],
) -> HTMLResponse | RedirectResponse:
    sim = _simulator(svc)
    order = (
        await sim.answer_order(token, wallet, decision == "approve", svc.tp.ctx.now())
        if sim
        else None
    )
    if order is None:
        return _page(None, 404)
    return RedirectResponse(f"/simulator/qr/{token}", status_code=303)
