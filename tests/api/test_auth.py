"""Authentication: HTTP Basic everywhere but /ping (with the challenge httplib2 needs), Bearer tokens."""

from __future__ import annotations

import base64

import httpx

from horae.server import Host
from tests.api.conftest import assert_error, client_for

BASIC = "Basic " + base64.b64encode(b"chronos:s3cret").decode()


async def test_basic_auth_guards_everything_but_ping(host: Host) -> None:
    async with client_for(host, auth=("chronos", "s3cret")) as client:
        for path in (
            "/v1/scheduler/jobs",
            "/scheduler/jobs",
            "/api/v1/jobs",
            "/metrics",
            "/openapi.json",
            "/nowhere",
        ):
            response = await client.get(path)
            assert_error(response, 401, "authentication required")
            assert response.headers["www-authenticate"] == 'Basic realm="horae"'
            assert response.headers["access-control-allow-origin"] == "*"
        assert (await client.get("/ping")).text == "pong\n"
        assert (await client.get("/v1/scheduler/jobs", headers={"Authorization": BASIC})).status_code == 200
        assert (await client.get("/api/v1/jobs", auth=("chronos", "s3cret"))).status_code == 200
        for wrong in (("chronos", "s3cre"), ("chronos", "s3cret!"), ("root", "s3cret"), ("", "")):
            assert (await client.get("/api/v1/jobs", auth=wrong)).status_code == 401
        for header in (
            "Basic !!!",
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Bearer s3cret",
            "s3cret",
        ):
            assert (await client.get("/api/v1/jobs", headers={"Authorization": header})).status_code == 401


async def test_bearer_token_is_accepted_beside_basic(host: Host) -> None:
    async with client_for(host, auth=("chronos", "s3cret"), token="tok-123") as client:
        bearer = {"Authorization": "Bearer tok-123"}
        assert (await client.get("/api/v1/jobs", headers=bearer)).status_code == 200
        assert (
            await client.get("/api/v1/jobs", headers={"Authorization": "bearer tok-123"})
        ).status_code == 200
        assert (
            await client.get("/api/v1/jobs", headers={"Authorization": "Bearer tok-12"})
        ).status_code == 401
        assert (await client.get("/api/v1/jobs", auth=("chronos", "s3cret"))).status_code == 200


async def test_token_alone_challenges_for_a_bearer(host: Host) -> None:
    async with client_for(host, token="tok-123") as client:
        response = await client.get("/api/v1/jobs")
        assert_error(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer realm="horae"'
        assert (
            await client.get("/api/v1/jobs", headers={"Authorization": "Bearer tok-123"})
        ).status_code == 200
        assert (await client.get("/ping")).status_code == 200


async def test_without_credentials_configured_everything_is_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/jobs")).status_code == 200
    assert (
        await client.get("/v1/scheduler/jobs", headers={"Authorization": "Basic garbage"})
    ).status_code == 200
