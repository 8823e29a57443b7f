"""Every table, imported in one place so that metadata is complete (migrations, tests)."""

from __future__ import annotations


def load_all() -> None:
    import discounts.codes.models
    import discounts.dashboard.models
    import discounts.directory.models
    import discounts.events.models
    import discounts.notify.models
    import discounts.usage.models
    import discounts.webhooks.models  # noqa: F401
