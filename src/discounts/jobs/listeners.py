"""Who hears each recorded event: the one list to extend with a new kind of listener (an analytics export, …)."""

from __future__ import annotations

from discounts.events.dispatch import Listener
from discounts.notify import listener as email
from discounts.webhooks import listener as webhooks

LISTENERS: tuple[Listener, ...] = (email.on_events, webhooks.on_events)
