"""A crowd of shoppers redeeming one code while the test breaks something underneath them.

Each shopper redeems once and, like a careful checkout, sends the same request again while
the outcome is unknown: after a 503 (once ``Retry-After`` has passed) or after the connection
failed (the API process gone). Every answer is kept, so a test can check afterwards that each
shopper ended with exactly one use, that no answer was a 500, and that a 409 came only to a
shopper whose earlier try may have gone through.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

#: What a connection error is recorded as (no HTTP status: the process or the network failed).
NO_ANSWER = 0
#: The 409 of a retry whose ``Idempotency-Key`` is still held by its first request: try again shortly.
IN_PROGRESS = "idempotency_in_progress"


@dataclass
class Answer:
    status: int
    code: str | None = None
    retry_after: str | None = None
    content_type: str | None = None
    body: dict[str, object] | None = None
    #: ``Idempotent-Replayed: true``: the first answer to this key, kept.
    replayed: bool = False


async def post(http: httpx.AsyncClient, path: str, body: dict[str, object], headers: dict[str, str]) -> Answer:
    """One try; a broken connection or a timeout is :data:`NO_ANSWER` (the outcome unknown)."""
    try:
        response = await http.post(path, json=body, headers=headers)
    except httpx.TransportError:
        return Answer(NO_ANSWER)
    try:
        parsed = response.json() if response.content else None
    except ValueError:
        parsed = {"not_json": response.text[:200]}
    return Answer(
        response.status_code,
        parsed.get("code") if response.status_code >= 400 and isinstance(parsed, dict) else None,
        response.headers.get("retry-after"),
        response.headers.get("content-type"),
        parsed,
        response.headers.get("idempotent-replayed") == "true",
    )


async def until_final(attempt: Callable[[], Awaitable[Answer]], answers: list[Answer], tries: int) -> None:
    """Send again while the outcome is unknown, as a checkout does: after a 503 (once ``Retry-After`` has
    passed), a broken connection, or the key still held by the first try."""
    for _ in range(tries):
        answer = await attempt()
        answers.append(answer)
        if answer.status == 503:
            await asyncio.sleep(float(answer.retry_after or 1))
        elif answer.status == NO_ANSWER or answer.code == IN_PROGRESS:
            await asyncio.sleep(0.2)
        else:
            return


@dataclass
class Crowd:
    """``users`` redeeming ``code`` through whichever API address ``url()`` gives at that moment."""

    url: Callable[[], str]
    tokens: dict[str, str]
    code: str
    in_flight: int = 16
    amount: str = "80.00"
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    #: Shoppers whose checkout sends an ``Idempotency-Key`` (one per shopper's order).
    keyed: frozenset[str] = frozenset()
    #: Tries per shopper before the crowd gives up: a service that never recovers fails the test, not hangs it.
    max_tries: int = 200
    #: What each shopper sends, if not a redemption of ``code``: (path, body) for a user.
    request: Callable[[str], tuple[str, dict[str, object]]] | None = None

    def successes(self) -> int:
        return sum(1 for answers in self.answers.values() if answers and answers[-1].status == 201)

    def statuses(self) -> Counter[int]:
        return Counter(answer.status for answers in self.answers.values() for answer in answers)

    async def run(self, users: Iterable[str]) -> None:
        """Every shopper of ``users`` (a generator may keep them coming) through, each to a final answer."""
        queue = iter(users)
        async with asyncio.TaskGroup() as senders:
            for _ in range(self.in_flight):
                senders.create_task(self._send(queue))

    async def _send(self, queue: Iterator[str]) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients: dict[str, httpx.AsyncClient] = {}
        try:
            for user in queue:

                async def attempt(user: str = user) -> Answer:
                    base = self.url()
                    if base not in clients:
                        clients[base] = httpx.AsyncClient(base_url=base, limits=limits, timeout=30)
                    return await self._try(clients[base], user)

                await until_final(attempt, self.answers.setdefault(user, []), self.max_tries)
        finally:
            for client in clients.values():
                await client.aclose()

    async def _try(self, http: httpx.AsyncClient, user: str) -> Answer:
        path, body = "/api/v1/discountcodeusage/", {"code": self.code, "user": user, "amount": self.amount}
        if self.request is not None:
            path, body = self.request(user)
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if user in self.keyed:
            headers["Idempotency-Key"] = f"order-of-{user}"
        return await post(http, path, body, headers)


def check_answers(crowd: Crowd, users: list[str]) -> set[str]:
    """Every shopper ended with one use, and every answer on the way was one a client can act on.

    Returns the shoppers who were answered 201 (the acknowledged uses). A 409 is allowed only
    after a try whose outcome was unknown: that try went through, its answer was lost. A
    keyed shopper may meet their key in flight (409 ``idempotency_in_progress``) on the way.
    """
    assert sorted(crowd.answers) == sorted(users)
    acknowledged: set[str] = set()
    for user, answers in crowd.answers.items():
        statuses = [answer.status for answer in answers if answer.code != IN_PROGRESS]
        assert user in crowd.keyed or len(statuses) == len(answers), (user, answers)
        assert set(statuses) <= {201, 409, 503, NO_ANSWER}, (user, statuses)
        assert statuses[-1] in (201, 409), (user, statuses)
        assert statuses.count(201) + statuses.count(409) == 1, (user, statuses)
        for answer in answers:
            if answer.status == 503:
                assert answer.code == "unavailable", (user, answer)
                assert answer.retry_after is not None, (user, answer)
                assert int(answer.retry_after) > 0, (user, answer)
                assert answer.content_type == "application/problem+json", (user, answer)
        if statuses[-1] == 409:
            assert answers[-1].code == "code_already_used", (user, answers)
            assert {503, NO_ANSWER} & set(statuses[:-1]), f"{user} was refused without an earlier try: {statuses}"
        else:
            acknowledged.add(user)
    return acknowledged
