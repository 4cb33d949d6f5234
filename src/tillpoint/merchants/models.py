"""Merchant-side records: merchants and their history, shops, fee plans, kind limits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tillpoint.core.db import Base, DecimalText, UTCDateTime, str_enum
from tillpoint.core.geo import degrees


class MerchantKind(StrEnum):
    PERSONAL = "personal"  # an individual / micro merchant (小微)
    BUSINESS = "business"  # a registered business with a licence


class MerchantStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    MORE_DOCUMENTS = "more_documents"  # the reviewer waits for documents it asked for
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    CLOSED = "closed"


# A merchant has a MID exactly when it has been approved at some point.
HAS_MID = (MerchantStatus.APPROVED, MerchantStatus.SUSPENDED, MerchantStatus.CLOSED)


class MerchantAction(StrEnum):
    """What a history entry records: a change of status, or a step of the review that
    leaves the status as it is."""

    STATUS = "status"  # from_status -> to_status
    NOTE = "note"  # a reviewer's note: for the acquirer's staff only
    DOCUMENTS_ASKED = "documents_asked"  # detail: the kinds asked for, comma-separated
    DOCUMENT_UPLOADED = "document_uploaded"  # detail: the document's kind


class DocumentKind(StrEnum):
    """The documents of an application (进件资料)."""

    ID_FRONT = "id_front"  # personal: identity card, portrait side
    ID_BACK = "id_back"  # personal: identity card, national emblem side
    BANK_CARD = "bank_card"  # personal: the settlement debit card
    BUSINESS_LICENCE = "business_licence"  # business: 营业执照
    LEGAL_REP_ID_FRONT = "legal_rep_id_front"  # business: the legal representative's ID
    LEGAL_REP_ID_BACK = "legal_rep_id_back"
    BANK_ACCOUNT_PROOF = "bank_account_proof"  # business: 开户许可证 or a bank letter
    SHOP_PHOTO = "shop_photo"  # business: the shop front and inside (several)


DOCUMENT_KINDS: dict[MerchantKind, tuple[DocumentKind, ...]] = {
    MerchantKind.PERSONAL: (DocumentKind.ID_FRONT, DocumentKind.ID_BACK, DocumentKind.BANK_CARD),
    MerchantKind.BUSINESS: (
        DocumentKind.BUSINESS_LICENCE,
        DocumentKind.LEGAL_REP_ID_FRONT,
        DocumentKind.LEGAL_REP_ID_BACK,
        DocumentKind.BANK_ACCOUNT_PROOF,
        DocumentKind.SHOP_PHOTO,
    ),
}


class PaymentMethod(StrEnum):
    DEBIT = "debit"  # domestic debit card
    CREDIT = "credit"  # domestic credit card
    CONTACTLESS = "contactless"  # domestic contactless up to 1,000 CNY (闪付)
    FOREIGN = "foreign"  # foreign card
    ALIPAY = "alipay"
    WECHAT = "wechat"
    UNIONPAY_QR = "unionpay_qr"


class ShopStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint(
            "(mid IS NOT NULL) = (status IN ('approved', 'suspended', 'closed'))",
            name="mid_iff_approved",
        ),
        CheckConstraint(
            "kind <> 'personal' OR id_document_enc IS NOT NULL", name="personal_has_identity"
        ),
        CheckConstraint(
            "kind <> 'business' OR business_licence_no IS NOT NULL", name="business_has_licence"
        ),
        CheckConstraint("max_terminals IS NULL OR max_terminals >= 0", name="max_terminals"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mid: Mapped[str | None] = mapped_column(String(15), unique=True)
    kind: Mapped[MerchantKind] = mapped_column(str_enum(MerchantKind))
    status: Mapped[MerchantStatus] = mapped_column(str_enum(MerchantStatus), index=True)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    legal_name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    mcc: Mapped[str] = mapped_column(String(4))
    region_code: Mapped[str] = mapped_column(String(4))
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_phone: Mapped[str] = mapped_column(String(20))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    # Personal merchants: resident identity number, encrypted; only the tail is shown.
    id_document_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_document_masked: Mapped[str | None] = mapped_column(String(24))
    # A keyed token of the identity number or licence, to find duplicate applications.
    identity_token: Mapped[str] = mapped_column(String(64), index=True)
    # Business merchants: public registry numbers, so kept in clear.
    business_licence_no: Mapped[str | None] = mapped_column(String(18))
    tax_registration_no: Mapped[str | None] = mapped_column(String(20))
    bank_name: Mapped[str] = mapped_column(String(100))
    bank_account_name: Mapped[str] = mapped_column(String(200))
    bank_account_enc: Mapped[bytes] = mapped_column(LargeBinary)
    bank_account_masked: Mapped[str] = mapped_column(String(40))
    max_terminals: Mapped[int | None] = mapped_column(Integer)  # overrides the kind's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    shops: Mapped[list[Shop]] = relationship(back_populates="merchant", order_by="Shop.number")


class MerchantEvent(Base):
    """Every status change of a merchant, and every step of its review (a note,
    documents asked for, a document uploaded): who, when, why."""

    __tablename__ = "merchant_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    from_status: Mapped[MerchantStatus | None] = mapped_column(
        str_enum(MerchantStatus, name="from_status")
    )
    to_status: Mapped[MerchantStatus] = mapped_column(str_enum(MerchantStatus, name="to_status"))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[MerchantAction] = mapped_column(
        str_enum(MerchantAction), server_default=MerchantAction.STATUS.value
    )
    detail: Mapped[str | None] = mapped_column(String(200))


class MerchantDocument(Base):
    """A document of an application: the file encrypted (AES-256-GCM under a sub-key of
    the master key, the merchant and document ids as associated data), its type found
    from its content, its size and SHA-256 of the clear bytes."""

    __tablename__ = "merchant_documents"
    __table_args__ = (
        CheckConstraint("size_bytes > 0", name="size"),
        Index("ix_merchant_documents_merchant", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, length=24))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_enc: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Shop(Base):
    """A place where a merchant sells (门店): a store of a chain, a counter in a mall."""

    __tablename__ = "shops"
    __table_args__ = (
        UniqueConstraint("merchant_id", "number"),
        # Lets terminals reference (merchant, shop) so a terminal's shop is its merchant's.
        UniqueConstraint("merchant_id", "id"),
        CheckConstraint("(latitude_e6 IS NULL) = (longitude_e6 IS NULL)", name="lat_lon"),
        CheckConstraint("latitude_e6 BETWEEN -90000000 AND 90000000", name="latitude_range"),
        CheckConstraint("longitude_e6 BETWEEN -180000000 AND 180000000", name="longitude_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    region_code: Mapped[str] = mapped_column(String(4))
    status: Mapped[ShopStatus] = mapped_column(str_enum(ShopStatus))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where the shop is registered to be (a terminal's reported place is compared with
    # it): micro-degrees, exact; both or neither. And its city, as people write it.
    latitude_e6: Mapped[int | None] = mapped_column(Integer)
    longitude_e6: Mapped[int | None] = mapped_column(Integer)
    city: Mapped[str | None] = mapped_column(String(50))

    merchant: Mapped[Merchant] = relationship(back_populates="shops")

    @property
    def latitude(self) -> Decimal | None:
        return None if self.latitude_e6 is None else degrees(self.latitude_e6)

    @property
    def longitude(self) -> Decimal | None:
        return None if self.longitude_e6 is None else degrees(self.longitude_e6)


class FeePlan(Base):
    """A price list. Plans never change once created: new prices mean a new plan, so
    the plan in force at any past moment is always known exactly."""

    __tablename__ = "fee_plans"
    __table_args__ = (
        Index(
            "uq_fee_plans_default_kind",
            "default_for",
            unique=True,
            sqlite_where=text("default_for IS NOT NULL"),
            postgresql_where=text("default_for IS NOT NULL"),
        ),
        CheckConstraint("data_fee_minor >= 0", name="data_fee"),
        CheckConstraint("data_fee_free_days >= 0", name="free_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    # The plan every new merchant of this kind starts on (at most one per kind).
    default_for: Mapped[MerchantKind | None] = mapped_column(str_enum(MerchantKind))
    data_fee_minor: Mapped[int] = mapped_column(BigInteger)  # per terminal per year
    data_fee_free_days: Mapped[int] = mapped_column(Integer)  # after activation
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    rates: Mapped[list[FeeRate]] = relationship(
        back_populates="plan", order_by="FeeRate.id", cascade="all, delete-orphan"
    )


class FeeRate(Base):
    __tablename__ = "fee_rates"
    __table_args__ = (
        UniqueConstraint("fee_plan_id", "method"),
        CheckConstraint("cap_minor IS NULL OR cap_minor >= 0", name="cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fee_plan_id: Mapped[int] = mapped_column(ForeignKey("fee_plans.id"))
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod))
    rate_percent: Mapped[Decimal] = mapped_column(DecimalText())
    cap_minor: Mapped[int | None] = mapped_column(BigInteger)

    plan: Mapped[FeePlan] = relationship(back_populates="rates")


class FeePlanAssignment(Base):
    """A merchant is on a plan from a date on; the history is never rewritten."""

    __tablename__ = "fee_plan_assignments"
    __table_args__ = (UniqueConstraint("merchant_id", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    fee_plan_id: Mapped[int] = mapped_column(ForeignKey("fee_plans.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    plan: Mapped[FeePlan] = relationship()


class KindLimits(Base):
    """Per merchant kind: how much one sale and one day may take, how many terminals."""

    __tablename__ = "kind_limits"
    __table_args__ = (
        CheckConstraint("per_txn_limit_minor > 0", name="per_txn"),
        CheckConstraint("daily_limit_minor >= per_txn_limit_minor", name="daily"),
        CheckConstraint("max_terminals >= 0", name="max_terminals"),
    )

    kind: Mapped[MerchantKind] = mapped_column(str_enum(MerchantKind), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    per_txn_limit_minor: Mapped[int] = mapped_column(BigInteger)
    daily_limit_minor: Mapped[int] = mapped_column(BigInteger)
    max_terminals: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
