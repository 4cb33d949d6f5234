"""What a simulation run leaves beside the payments it booked: the run, the merchants
it made, and the labels of the patterns it injected (docs/risk.md, "The traffic
simulator"). The payments themselves are the acquirer's, in ``payments``; a label
names its payments in ``simulation_label_payments``. Nothing of a card is kept here."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum
from tillpoint.core.i18n import N_


class Pattern(StrEnum):
    """What a label says happened (docs/risk.md)."""

    CARD_TESTING = "card_testing"  # 试卡: a burst of many cards, small amounts, declines
    CASH_OUT = "cash_out"  # 套现: a few credit cards, large round amounts, odd hours
    RELOCATION = "relocation"  # 移机: a terminal selling far from its shop
    CATEGORY_MISMATCH = "category_mismatch"  # 跳码: another trade's traffic under this MCC


#: What people read for each pattern (message ids).
PATTERN_NAMES = {
    Pattern.CARD_TESTING: N_("card testing"),
    Pattern.CASH_OUT: N_("cash-out"),
    Pattern.RELOCATION: N_("relocated terminal"),
    Pattern.CATEGORY_MISMATCH: N_("category mismatch"),
}


class RunStatus(StrEnum):
    RUNNING = "running"  # booking; its labels are not written yet
    FINISHED = "finished"


class SimulationRun(Base):
    """One ``tillpoint simulate``: what was asked and what was booked. Only a finished
    run has its labels."""

    __tablename__ = "simulation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    merchants: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)  # the first simulated day (Shanghai time)
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, length=10))
    terminals: Mapped[int] = mapped_column(Integer, default=0)
    payments: Mapped[int] = mapped_column(Integer, default=0)  # booked through the acquirer
    approved: Mapped[int] = mapped_column(Integer, default=0)
    declined: Mapped[int] = mapped_column(Integer, default=0)  # every answer but 00
    labels: Mapped[dict[str, int]] = mapped_column(JSON)  # pattern: how many labels


class SimulationMerchant(Base):
    """A merchant a run made, the trade it was simulated as and where."""

    __tablename__ = "simulation_merchants"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("simulation_runs.id"), index=True)
    trade: Mapped[str] = mapped_column(String(30))  # simulation/trades.py's key
    city: Mapped[str] = mapped_column(String(50))


class SimulationLabel(Base):
    """One injected pattern: at a merchant (and one of its terminals, where the pattern
    is a terminal's), between ``first_at`` and ``last_at``, its payments listed in
    ``simulation_label_payments``. ``detail`` says more (BIN, cities, distances, the
    trade imitated), never a card number."""

    __tablename__ = "simulation_labels"
    __table_args__ = (Index("ix_simulation_labels_run_merchant", "run_id", "merchant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("simulation_runs.id"))
    pattern: Mapped[Pattern] = mapped_column(str_enum(Pattern))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payments: Mapped[int] = mapped_column(Integer)  # how many rows it has below
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class SimulationLabelPayment(Base):
    """A payment a label covers (the acquirer's RRN beside its id, for people)."""

    __tablename__ = "simulation_label_payments"

    label_id: Mapped[int] = mapped_column(ForeignKey("simulation_labels.id"), primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("payments.id"), primary_key=True, index=True
    )
    rrn: Mapped[str] = mapped_column(String(12))
