"""The built-in rules follow the release unless an operator changed them
(risk/service.py ensure_builtin)."""

from __future__ import annotations

from sqlalchemy import update

from tillpoint.app import Tillpoint
from tillpoint.risk.builtin import BUILTIN
from tillpoint.risk.models import Mode, RiskRule

OLD = "merchant.sales_30d >= 20 and peers.avg_ticket_30d > 0"


def test_an_untouched_builtin_rule_is_brought_up_to_date_and_a_changed_one_stays(
    tp: Tillpoint,
) -> None:
    shipped = {d.code: d for d in BUILTIN}
    assert tp.risk.ensure_builtin() == 0  # as shipped: nothing to do, no new version
    assert {r.code: r.version for r in tp.risk.rules()} == {d.code: 1 for d in BUILTIN}
    # An earlier release's definition, still by the system; and one an operator changed.
    with tp.ctx.db.transaction() as s:
        s.execute(update(RiskRule).where(RiskRule.code == "category_mismatch")
                  .values(expression=OLD))  # fmt: skip
    tp.risk.update("velocity_card", "risk@acquirer.cn", "our own limits", mode=Mode.SHADOW,
                   params={"default": {"max_10m": 9, "max_24h": 30}})  # fmt: skip

    assert tp.risk.ensure_builtin() == 1
    rule = tp.risk.rule("category_mismatch")
    assert rule.expression == shipped["category_mismatch"].expression and rule.version == 2
    [latest, *_] = tp.risk.versions("category_mismatch")
    assert latest.changed_by == "system" and latest.note == "built-in rule updated"
    mine = tp.risk.rule("velocity_card")
    assert mine.mode is Mode.SHADOW and mine.params["default"]["max_10m"] == 9
    assert tp.risk.ensure_builtin() == 0
