"""Risk monitoring's tables: the rules (as data, every version kept), the decisions
screening took on payments, the alerts they raised, the cases that group alerts with
everything done about them, and the exemptions a resolved case grants."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum


class Action(StrEnum):
    """What a rule does when it fires, mildest first: each includes the alert."""

    ALERT = "alert"  # allow, and raise an alert
    HOLD = "hold"  # allow, alert, and hold the merchant's payouts
    DECLINE = "decline"  # answer 59 without asking the network, and alert
    FREEZE = "freeze"  # decline, alert, and freeze the terminal


#: Severity of the actions, to take the strongest of several rules that fire.
STRENGTH = {Action.ALERT: 0, Action.HOLD: 1, Action.DECLINE: 2, Action.FREEZE: 3}


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Mode(StrEnum):
    LIVE = "live"  # screens and acts
    SHADOW = "shadow"  # screens live traffic and records what it would have done; acts on nothing
    DRAFT = "draft"  # runs only in backtests
    OFF = "off"


class CaseStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Resolution(StrEnum):
    FALSE_POSITIVE = "false_positive"  # what the case did is undone
    FRAUD_CONFIRMED = "fraud_confirmed"
    CASH_OUT_CONFIRMED = "cash_out_confirmed"


class RiskRule(Base):
    """A rule as it stands now (``version`` counts its changes)."""

    __tablename__ = "risk_rules"
    __table_args__ = (CheckConstraint("version >= 1", name="version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    expression: Mapped[str] = mapped_column(Text)
    action: Mapped[Action] = mapped_column(str_enum(Action))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    mode: Mapped[Mode] = mapped_column(str_enum(Mode))
    # {"default": {...}, "personal": {...}, "business": {...}}: a kind's own values
    # override the defaults.
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Scope: merchant kinds, MCCs, merchants (MIDs) it applies to; empty: all.
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    builtin: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))


class RiskRuleVersion(Base):
    """Every version of every rule: who made it, when, why, and the whole definition."""

    __tablename__ = "risk_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("risk_rules.id"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    note: Mapped[str] = mapped_column(String(500))


class RiskDecision(Base):
    """What screening decided on a payment when a rule fired (live or shadow), with
    each rule's evidence. A payment no rule fired on has none: it was allowed."""

    __tablename__ = "risk_decisions"
    __table_args__ = (Index("ix_risk_decisions_merchant_at", "merchant_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(BigId, ForeignKey("payments.id"), unique=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    terminal_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # the action taken ("allow": shadow only)
    hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))


class RiskCase(Base):
    """Alerts of one merchant grouped for review, and what was done about them."""

    __tablename__ = "risk_cases"
    __table_args__ = (
        Index("ix_risk_cases_status", "status", "opened_at"),
        # One open case per merchant: a new alert joins it.
        Index(
            "uq_risk_cases_open_merchant",
            "merchant_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    assignee: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[Resolution | None] = mapped_column(str_enum(Resolution, 30))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(100))


class RiskAlert(Base):
    __tablename__ = "risk_alerts"
    __table_args__ = (
        Index("ix_risk_alerts_case", "case_id"),
        Index("ix_risk_alerts_merchant_at", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("risk_cases.id"))
    rule_code: Mapped[str] = mapped_column(String(40))
    rule_version: Mapped[int] = mapped_column(Integer)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    action: Mapped[Action] = mapped_column(str_enum(Action))
    merchant_id: Mapped[int] = mapped_column(Integer)
    terminal_id: Mapped[int | None] = mapped_column(Integer)
    payment_id: Mapped[int | None] = mapped_column(BigId)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))


class RiskCaseEvent(Base):
    """A case's history: opened, alerts joining, assignment, comments, actions taken
    and undone, resolution; each with who and when (the audit trail)."""

    __tablename__ = "risk_case_events"
    __table_args__ = (Index("ix_risk_case_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("risk_cases.id"))
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))


class RiskExemption(Base):
    """A merchant a case resolved as a false positive is exempt from the rules that
    fired in it, until ``until``: their declines are undone for what follows."""

    __tablename__ = "risk_exemptions"
    __table_args__ = (Index("ix_risk_exemptions_merchant", "merchant_id", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("risk_cases.id"))
    merchant_id: Mapped[int] = mapped_column(Integer)
    rule_code: Mapped[str] = mapped_column(String(40))
    until: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
