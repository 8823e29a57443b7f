"""Who hears each recorded event: the one list to extend with a new kind of listener (an analytics export, …).

A listener whose rows reference an event (a foreign key to ``events.seq``) names that column in
``EVENT_HOLDERS`` too: retention deletes an old event only once none of them does.
"""

from __future__ import annotations

from discounts.events.dispatch import Listener
from discounts.events.retention import Holder
from discounts.notify import listener as email
from discounts.webhooks import listener as webhooks
from discounts.webhooks.models import WebhookDelivery

LISTENERS: tuple[Listener, ...] = (email.on_events, webhooks.on_events)

#: Columns that reference an event; an event is deleted only once no row of theirs does.
EVENT_HOLDERS: tuple[Holder, ...] = (WebhookDelivery.event_seq,)
