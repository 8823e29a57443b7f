"""What the notification jobs need besides their arguments, built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from discounts.notify.mail import MailTransport
from discounts.notify.messages import MessageRenderer
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings


@dataclass
class Notifier:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    transport: MailTransport
    renderer: MessageRenderer

    @classmethod
    def build(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Notifier:
        transport = MailTransport(settings)
        renderer = MessageRenderer(settings, UnsubscribeTokens(settings), transport.sender_domain)
        return cls(settings=settings, sessions=sessions, transport=transport, renderer=renderer)

    @property
    def engine(self) -> AsyncEngine:
        """The engine behind ``sessions``: a chunk holds one of its connections for all its messages."""
        engine = self.sessions.kw["bind"]
        assert isinstance(engine, AsyncEngine), engine
        return engine

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.fanout_lease_seconds)
