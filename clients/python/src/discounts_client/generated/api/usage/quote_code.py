from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.quote_out import QuoteOut
from ...models.redemption_in import RedemptionIn
from ...types import Response


def _get_kwargs(
    *,
    body: RedemptionIn,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/discountcodequote/",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | QuoteOut | None:
    if response.status_code == 200:
        response_200 = QuoteOut.from_dict(response.json())

        return response_200

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | QuoteOut]:
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
) -> Response[Problem | QuoteOut]:
    """Quote Code

     What a redemption would answer now — the amount to pay, or the very error — without using the code.

    Args:
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | QuoteOut]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
) -> Problem | QuoteOut | None:
    """Quote Code

     What a redemption would answer now — the amount to pay, or the very error — without using the code.

    Args:
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | QuoteOut
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
) -> Response[Problem | QuoteOut]:
    """Quote Code

     What a redemption would answer now — the amount to pay, or the very error — without using the code.

    Args:
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | QuoteOut]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RedemptionIn,
) -> Problem | QuoteOut | None:
    """Quote Code

     What a redemption would answer now — the amount to pay, or the very error — without using the code.

    Args:
        body (RedemptionIn): Either ``amount`` (the whole order) or ``items`` (only the code's
            brand's lines are discounted).

            The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
            largest order priced; JSON Schema cannot say this, the description does.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | QuoteOut
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
