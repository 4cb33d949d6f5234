"""What the REST API's offline sync and the till page's share: an offline order as a
body sent it, as the sync service takes it (both bodies name their fields as
``OfflineSale``, ``LineSold`` and ``CashPaid`` do)."""

from __future__ import annotations

from pydantic import BaseModel

from tillpoint.store.sync import CashPaid, LineSold, OfflineSale


def offline_sale(order: BaseModel) -> OfflineSale:
    fields = order.model_dump()
    lines = tuple(LineSold(**x) for x in fields.pop("lines"))
    tenders = tuple(CashPaid(**t) for t in fields.pop("tenders"))
    fields["coupon_codes"] = tuple(fields.get("coupon_codes", ()))
    return OfflineSale(lines=lines, tenders=tenders, **fields)
