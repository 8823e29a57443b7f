"""The notifications API's shapes."""

from __future__ import annotations

from discounts.codes.schemas import Progress


class FanoutProgress(Progress):
    """How far the e-mailing of a new code has got."""

    code: str
