"""Names of enum values shown to people, marked so the catalogue carries them.

The CLI and pages translate a status with ``_(status.value)``; a test checks that every
value of every enum listed in ``LABELLED`` appears here.
"""

from tillpoint.access.models import AccountRole, AccountStatus, Role
from tillpoint.clearing.models import MatchStatus, SettlementStatus
from tillpoint.clearing.payouts import PayoutState
from tillpoint.core.i18n import N_
from tillpoint.ledger.models import AccountKind, EntryKind
from tillpoint.merchants.models import (
    DocumentKind,
    MerchantAction,
    MerchantKind,
    MerchantStatus,
    PaymentMethod,
    ShopStatus,
)
from tillpoint.notify.models import DeliveryStatus
from tillpoint.payments.models import CheckoutStatus, IntentState, PaymentKind, PaymentStatus
from tillpoint.risk.models import Action, CaseStatus, Mode, Resolution, Severity
from tillpoint.store.models import (
    CountStatus,
    OrderKind,
    OrderStatus,
    ShiftStatus,
    TenderKind,
    TenderStatus,
    TransferStatus,
)
from tillpoint.store.stock import AdjustReason
from tillpoint.terminals.models import (
    Capability,
    OperatorRole,
    TerminalOrderState,
    TerminalStatus,
)

LABELLED = (
    AccountKind,
    EntryKind,
    SettlementStatus,
    PayoutState,
    MatchStatus,
    MerchantKind,
    MerchantStatus,
    PaymentMethod,
    ShopStatus,
    Capability,
    OperatorRole,
    TerminalStatus,
    PaymentStatus,
    Role,
    DeliveryStatus,
    IntentState,
    PaymentKind,
    AccountRole,
    AccountStatus,
    MerchantAction,
    DocumentKind,
    TerminalOrderState,
    CheckoutStatus,
    Action,
    Severity,
    Mode,
    CaseStatus,
    Resolution,
    OrderKind,
    OrderStatus,
    ShiftStatus,
    TenderKind,
    TenderStatus,
    TransferStatus,
    CountStatus,
    AdjustReason,
)

LABELS = (
    # AccountKind
    N_("asset"),
    N_("liability"),
    N_("income"),
    # EntryKind
    N_("capture"),
    N_("capture_undone"),
    N_("refund"),
    N_("payout"),
    N_("carry"),
    N_("carry_applied"),
    N_("data_fee"),
    # SettlementStatus
    N_("paid"),
    N_("nothing"),
    N_("held"),
    # PayoutState (and paid, held, nothing above)
    N_("scheduled"),
    N_("expected"),
    # MatchStatus
    N_("matched"),
    N_("missing_at_host"),
    N_("missing_at_network"),
    N_("amount_mismatch"),
    N_("mid_mismatch"),
    N_("mcc_mismatch"),
    N_("fee_class_mismatch"),
    # MerchantKind
    N_("personal"),
    N_("business"),
    # MerchantStatus
    N_("submitted"),
    N_("under_review"),
    N_("approved"),
    N_("rejected"),
    N_("suspended"),
    N_("closed"),
    # PaymentMethod
    N_("debit"),
    N_("credit"),
    N_("contactless"),
    N_("foreign"),
    N_("alipay"),
    N_("wechat"),
    N_("unionpay_qr"),
    # ShopStatus
    N_("open"),
    # Capability
    N_("magstripe"),
    N_("chip"),
    N_("qr_camera"),
    N_("printer"),
    N_("esignature"),
    # OperatorRole
    N_("supervisor"),
    N_("operator"),
    # TerminalStatus
    N_("in_stock"),
    N_("bound"),
    N_("shipped"),
    N_("active"),
    N_("frozen"),
    N_("retired"),
    # PaymentStatus
    N_("approved"),
    N_("declined"),
    N_("timed_out"),
    N_("voided"),
    N_("reversed"),
    N_("partly_refunded"),
    N_("refunded"),
    N_("completed"),
    N_("pending"),
    N_("expired"),
    N_("canceled"),
    # Role
    N_("ops_admin"),
    N_("reviewer"),
    N_("merchant_owner"),
    N_("merchant_staff"),
    # DeliveryStatus
    N_("succeeded"),
    N_("failed"),
    # IntentState (a network call's note: open, reversing; reversed is a PaymentStatus's)
    N_("reversing"),
    # PaymentKind (refund is an EntryKind's too)
    N_("sale"),
    N_("preauth"),
    N_("completion"),
    # AccountRole (reviewer is a Role's too)
    N_("admin"),
    N_("fleet"),
    N_("risk"),
    N_("finance"),
    N_("owner"),
    N_("manager"),
    N_("cashier"),
    N_("applicant"),
    # AccountStatus (active is a TerminalStatus's too)
    N_("locked"),
    N_("disabled"),
    # MerchantStatus (the review waits for documents)
    N_("more_documents"),
    # MerchantAction (status is a history entry's plain status change)
    N_("status"),
    N_("note"),
    N_("documents_asked"),
    N_("document_uploaded"),
    # DocumentKind
    N_("id_front"),
    N_("id_back"),
    N_("bank_card"),
    N_("business_licence"),
    N_("legal_rep_id_front"),
    N_("legal_rep_id_back"),
    N_("bank_account_proof"),
    N_("shop_photo"),
    # TerminalOrderState (declined is a PaymentStatus's too)
    N_("requested"),
    N_("fulfilled"),
    # CheckoutStatus (pending, paid, failed, canceled, expired are others' too)
    N_("processing"),
    # risk: Action
    N_("alert"),
    N_("hold"),
    N_("decline"),
    N_("freeze"),
    # Severity
    N_("low"),
    N_("medium"),
    N_("high"),
    N_("critical"),
    # Mode
    N_("live"),
    N_("shadow"),
    N_("draft"),
    N_("off"),
    # CaseStatus (open is another's too)
    N_("resolved"),
    # Resolution
    N_("false_positive"),
    N_("fraud_confirmed"),
    N_("cash_out_confirmed"),
    # what a case's history says happened
    N_("opened"),
    N_("assigned"),
    N_("comment"),
    N_("action"),
    N_("undone"),
    # OrderKind (sale is another's too); OrderStatus, TenderStatus, ShiftStatus: above
    N_("return"),
    # TenderKind
    N_("cash"),
    N_("card"),
    N_("wallet"),
    N_("qr"),
    # TransferStatus (canceled is another's too)
    N_("sent"),
    N_("received"),
    # CountStatus (open, canceled are others' too)
    N_("booked"),
    # AdjustReason (expired is another's too)
    N_("damaged"),
    N_("theft"),
    N_("found"),
    N_("other"),
)
