from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.redemption_in import RedemptionIn
from ...models.redemption_out import RedemptionOut
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: RedemptionIn,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/discountcodeusage/",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | RedemptionOut | None:
    if response.status_code == 201:
        response_201 = RedemptionOut.from_dict(response.json())

        return response_201

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 410:
        response_410 = Problem.from_dict(response.json())

        return response_410

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | RedemptionOut]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
    idempotency_key: str | Unset = UNSET,
) -> Response[Problem | RedemptionOut]:
    """Use Code

     Use a code once and get the amount to pay; the brand is told asynchronously.

    With ``"hold": true`` the code is held for the checkout instead: it counts against every
    limit until confirmed, released, or ``hold_expires_at`` passes (then it gives all back).

    Args:
        idempotency_key (str | Unset):
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RedemptionOut]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
    idempotency_key: str | Unset = UNSET,
) -> Problem | RedemptionOut | None:
    """Use Code

     Use a code once and get the amount to pay; the brand is told asynchronously.

    With ``"hold": true`` the code is held for the checkout instead: it counts against every
    limit until confirmed, released, or ``hold_expires_at`` passes (then it gives all back).

    Args:
        idempotency_key (str | Unset):
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RedemptionOut
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
    idempotency_key: str | Unset = UNSET,
) -> Response[Problem | RedemptionOut]:
    """Use Code

     Use a code once and get the amount to pay; the brand is told asynchronously.

    With ``"hold": true`` the code is held for the checkout instead: it counts against every
    limit until confirmed, released, or ``hold_expires_at`` passes (then it gives all back).

    Args:
        idempotency_key (str | Unset):
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RedemptionOut]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
    idempotency_key: str | Unset = UNSET,
) -> Problem | RedemptionOut | None:
    """Use Code

     Use a code once and get the amount to pay; the brand is told asynchronously.

    With ``"hold": true`` the code is held for the checkout instead: it counts against every
    limit until confirmed, released, or ``hold_expires_at`` passes (then it gives all back).

    Args:
        idempotency_key (str | Unset):
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RedemptionOut
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
