"""E-mail to a brand about its own set-up: a webhook endpoint the service had to disable."""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.clock import utcnow
from discounts.directory.models import Brand
from discounts.notify.mail import MailTransport
from discounts.notify.messages import Email, human_time


async def endpoint_disabled(
    transport: MailTransport, sessions: async_sessionmaker[AsyncSession], brand_id: str, url: str, since: datetime
) -> bool:
    """Tell the brand its endpoint was disabled; False if the brand has no address in the directory."""
    async with sessions() as session:
        brand = await session.get(Brand, brand_id)
    if brand is None:
        return False
    message = EmailMessage()
    message["From"] = transport.sender
    message["To"] = brand.email
    message["Subject"] = "Your webhook endpoint was disabled"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{transport.sender_domain}>"
    message.set_content(
        f"Hello {brand.name},\n\n"
        f"every delivery to your webhook endpoint\n\n    {url}\n\nhas failed since {human_time(since)}, so we"
        " have disabled it. Events are no longer sent to it.\n\nOnce it answers again, enable it in your"
        ' dashboard (Webhooks) or with PATCH /api/v1/webhooks/{id}/ {"enabled": true}.\n'
    )
    async with transport.connect() as connection:
        await connection.send(Email(to=brand.email, data=message.as_bytes(policy=SMTP)))
    return True
