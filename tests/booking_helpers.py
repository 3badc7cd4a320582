"""Slots with ticket types, for booking tests."""
from __future__ import annotations

import datetime as dt

from marketplace.extensions import db
from marketplace.models import Slot, TicketType
from marketplace.models.base import utcnow
from tenants.scoping import unscoped


def make_slot(app, make, capacity: int = 10, types=(("Intero", 1500, None),), starts_in_days: int = 7,
              territory=None):
    """A published service with one slot; returns (territory, slot_id, [ticket_type_ids])."""
    territory = territory or make.territory()
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", title="Visita guidata")
    with app.app_context(), unscoped():
        start = utcnow() + dt.timedelta(days=starts_in_days)
        slot = Slot(territory_id=territory.id, service_id=service.id, starts_at=start,
                    ends_at=start + dt.timedelta(hours=2), capacity=capacity)
        db.session.add(slot)
        db.session.flush()
        ids = []
        for position, (name, price, quota) in enumerate(types):
            ticket_type = TicketType(territory_id=territory.id, slot_id=slot.id, name=name,
                                     price_cents=price, quota=quota, position=position)
            db.session.add(ticket_type)
            db.session.flush()
            ids.append(ticket_type.id)
        db.session.commit()
        return territory, slot.id, ids
