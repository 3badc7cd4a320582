"""SQLAlchemy models, one module per concept."""
from marketplace.models.territory import Domain, Territory
from marketplace.models.user import AccountToken, Membership, User
from marketplace.models.cooperative import Cooperative
from marketplace.models.invitation import Invitation
from marketplace.models.outbox import OutboxMessage

__all__ = [
    "AccountToken",
    "Cooperative",
    "Domain",
    "Invitation",
    "Membership",
    "OutboxMessage",
    "Territory",
    "User",
]
