from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.code_stats import CodeStats
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    hours: int | Unset = 72,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["hours"] = hours

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/discountcode/{id}/stats/".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> CodeStats | Problem | None:
    if response.status_code == 200:
        response_200 = CodeStats.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[CodeStats | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    hours: int | Unset = 72,
) -> Response[CodeStats | Problem]:
    """Get Code Stats

     What one of the brand's codes has done: uses, holds, give-backs, money, uses per hour and per day.

    Computed from the durable ledger (a second or so behind the redemptions) through its
    per-hour rollup: as fast at a million uses as at one. Another brand's code: 403.

    Args:
        id (str): The code string (any case) or its SHA-256 hash
        hours (int | Unset): Hours of hourly uses, up to now Default: 72.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CodeStats | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        hours=hours,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    hours: int | Unset = 72,
) -> CodeStats | Problem | None:
    """Get Code Stats

     What one of the brand's codes has done: uses, holds, give-backs, money, uses per hour and per day.

    Computed from the durable ledger (a second or so behind the redemptions) through its
    per-hour rollup: as fast at a million uses as at one. Another brand's code: 403.

    Args:
        id (str): The code string (any case) or its SHA-256 hash
        hours (int | Unset): Hours of hourly uses, up to now Default: 72.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CodeStats | Problem
    """

    return sync_detailed(
        id=id,
        client=client,
        hours=hours,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    hours: int | Unset = 72,
) -> Response[CodeStats | Problem]:
    """Get Code Stats

     What one of the brand's codes has done: uses, holds, give-backs, money, uses per hour and per day.

    Computed from the durable ledger (a second or so behind the redemptions) through its
    per-hour rollup: as fast at a million uses as at one. Another brand's code: 403.

    Args:
        id (str): The code string (any case) or its SHA-256 hash
        hours (int | Unset): Hours of hourly uses, up to now Default: 72.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CodeStats | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        hours=hours,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    hours: int | Unset = 72,
) -> CodeStats | Problem | None:
    """Get Code Stats

     What one of the brand's codes has done: uses, holds, give-backs, money, uses per hour and per day.

    Computed from the durable ledger (a second or so behind the redemptions) through its
    per-hour rollup: as fast at a million uses as at one. Another brand's code: 403.

    Args:
        id (str): The code string (any case) or its SHA-256 hash
        hours (int | Unset): Hours of hourly uses, up to now Default: 72.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CodeStats | Problem
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            hours=hours,
        )
    ).parsed
