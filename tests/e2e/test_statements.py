"""A merchant's statement of a settled day, HTML and PDF, in Chinese and English."""

from __future__ import annotations

from pathlib import Path

from tests.hosting import run_with_host
from tests.pdfcheck import check_embedded

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_SUPERVISOR_PASSWORD
from tillpoint.terminal.device import Device, DeviceState

MID = "898310054110001"


def test_statement_of_a_settled_day(demo: Tillpoint, tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        state = DeviceState.demo(1)
        state.port = port
        d = Device(state, tmp_path / "t.json")
        sold = await d.sale(Money.parse("100.00"), "6212340000000000012", pin="123456")
        await d.refund(
            sold.rrn or "",
            Money.parse("30.00"),
            "6212340000000000012",
            supervisor_password=DEMO_SUPERVISOR_PASSWORD,
        )
        await d.sale(Money.parse("25.00"), "280000000000000001", entry="scan")
        await d.close()

    run_with_host(demo, scenario)
    day = demo.days.cut_off("ops")
    demo.settlement.run(day)
    st = demo.statements.statement(MID, day)
    assert st.settlement is not None and st.settlement.payout_minor == 10_000 - 50 - 3_000 + 2_490
    html = demo.statements.html(st)
    for text in ("结算单 / Settlement statement", "划款金额 / Payout", "94.40", "621234*********0012",
                 "-30.00", "借记卡 / debit", "支付宝 / alipay", "0.10"):  # fmt: skip
        assert text in html, text
    assert "6212340000000000012" not in html
    ((shop, totals),) = st.by_shop.items()  # the demo merchant has one shop
    assert (totals.count, totals.gross_minor, totals.refunds_minor, totals.fees_minor) == (
        3,
        12_500,
        3_000,
        60,
    )
    assert "门店 / Shop" in html and shop in html
    pdf = demo.statements.pdf(st)
    assert pdf.startswith(b"%PDF")
    check_embedded(pdf, "结算单 / Settlement statement", st.merchant, "621234*********0012",
                   "-30.00", "借记卡 / debit")  # fmt: skip
    (tmp_path / "statement.html").write_text(html, encoding="utf-8")
    (tmp_path / "statement.pdf").write_bytes(pdf)
