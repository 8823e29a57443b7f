from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.redemption_out import RedemptionOut
from ...types import UNSET, Response, Unset


def _get_kwargs(
    usage_id: str,
    *,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/discountcodeusage/{usage_id}/confirm/".format(
            usage_id=quote(str(usage_id), safe=""),
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | RedemptionOut | None:
    if response.status_code == 200:
        response_200 = RedemptionOut.from_dict(response.json())

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
    usage_id: str,
    *,
    client: AuthenticatedClient,
    idempotency_key: str | Unset = UNSET,
) -> Response[Problem | RedemptionOut]:
    """Confirm Usage

     Confirm a checkout hold (the payment went through): it is a use now. Again: the same answer.

    The usage's user or the marketplace's service may; an unknown usage, someone else's, or
    one given back is 404; a hold that ended first is 410 ``hold_expired``.

    Args:
        usage_id (str): A usage's `id`, as its redemption returned it
        idempotency_key (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RedemptionOut]
    """

    kwargs = _get_kwargs(
        usage_id=usage_id,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    usage_id: str,
    *,
    client: AuthenticatedClient,
    idempotency_key: str | Unset = UNSET,
) -> Problem | RedemptionOut | None:
    """Confirm Usage

     Confirm a checkout hold (the payment went through): it is a use now. Again: the same answer.

    The usage's user or the marketplace's service may; an unknown usage, someone else's, or
    one given back is 404; a hold that ended first is 410 ``hold_expired``.

    Args:
        usage_id (str): A usage's `id`, as its redemption returned it
        idempotency_key (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RedemptionOut
    """

    return sync_detailed(
        usage_id=usage_id,
        client=client,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    usage_id: str,
    *,
    client: AuthenticatedClient,
    idempotency_key: str | Unset = UNSET,
) -> Response[Problem | RedemptionOut]:
    """Confirm Usage

     Confirm a checkout hold (the payment went through): it is a use now. Again: the same answer.

    The usage's user or the marketplace's service may; an unknown usage, someone else's, or
    one given back is 404; a hold that ended first is 410 ``hold_expired``.

    Args:
        usage_id (str): A usage's `id`, as its redemption returned it
        idempotency_key (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RedemptionOut]
    """

    kwargs = _get_kwargs(
        usage_id=usage_id,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    usage_id: str,
    *,
    client: AuthenticatedClient,
    idempotency_key: str | Unset = UNSET,
) -> Problem | RedemptionOut | None:
    """Confirm Usage

     Confirm a checkout hold (the payment went through): it is a use now. Again: the same answer.

    The usage's user or the marketplace's service may; an unknown usage, someone else's, or
    one given back is 404; a hold that ended first is 410 ``hold_expired``.

    Args:
        usage_id (str): A usage's `id`, as its redemption returned it
        idempotency_key (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RedemptionOut
    """

    return (
        await asyncio_detailed(
            usage_id=usage_id,
            client=client,
            idempotency_key=idempotency_key,
        )
    ).parsed
