"""SQLAlchemy models, one module per concept."""
from marketplace.models.territory import Domain, Territory
from marketplace.models.user import AccountToken, Membership, User
from marketplace.models.session import RecoveryCode, UserSession
from marketplace.models.cooperative import Cooperative
from marketplace.models.invitation import Invitation
from marketplace.models.outbox import OutboxMessage
from marketplace.models.booking import (
    LedgerEntry, Order, Payment, ServiceRequest, Slot, Ticket, TicketType, WaitlistEntry,
    WebhookEvent,
)
from marketplace.models.delivery import (
    ApiToken, AuditEntry, Beneficiary, DeliveryImport, DeliveryRecord, OutcomeIndicator, OutcomeValue,
    ReportRun, ServiceIndicator, SurveyInvitation, SurveyResponse,
)
from marketplace.models.funding import (
    Application, ApplicationDocument, Employee, Funder, Programme, Voucher, WelfareCredit,
)
from marketplace.models.privacy import DeskRegistration, FunderDelegation
from marketplace.models.catalogue import (
    Category, ChangeRecord, Municipality, PriceBand, Service, ServiceArea, ServiceImage,
    ServiceLocation,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "DeskRegistration",
    "FunderDelegation",
    "Beneficiary",
    "DeliveryImport",
    "DeliveryRecord",
    "OutcomeIndicator",
    "OutcomeValue",
    "ReportRun",
    "ServiceIndicator",
    "SurveyInvitation",
    "SurveyResponse",
    "Application",
    "ApplicationDocument",
    "Employee",
    "Funder",
    "Programme",
    "Voucher",
    "WelfareCredit",
    "LedgerEntry",
    "Order",
    "Payment",
    "ServiceRequest",
    "Slot",
    "Ticket",
    "TicketType",
    "WaitlistEntry",
    "WebhookEvent",
    "AccountToken",
    "Category",
    "ChangeRecord",
    "Municipality",
    "PriceBand",
    "Service",
    "ServiceArea",
    "ServiceImage",
    "ServiceLocation",
    "Cooperative",
    "Domain",
    "Invitation",
    "Membership",
    "OutboxMessage",
    "RecoveryCode",
    "Territory",
    "User",
    "UserSession",
]
