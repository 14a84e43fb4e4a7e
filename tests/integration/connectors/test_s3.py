"""The s3 connector against a real S3 API (moto's server, in this process on a free port), in a
bucket of its own per test run."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from moto import settings as moto_settings
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

from interlink.connectors.base import ConnectionFailed, ConnectorError, ObjectNotFound
from interlink.connectors.s3 import SPEC, S3Connector
from interlink.testing.connectors import run_file_conformance
from interlink.testing.processes import free_port

KEY_ID = "AKIAILTESTKEYID00001"
SECRET = "il-test-secret-access-key-0b7e3f"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def bucket(endpoint: str) -> Iterator[str]:
    # moto takes unsigned requests (until told to check keys): the test's own set-up is plain.
    name = f"il-test-{uuid.uuid4().hex[:12]}"
    httpx.put(f"{endpoint}/{name}").raise_for_status()
    yield name
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()  # every bucket and key gone


def _config(endpoint: str, bucket: str, **more: Any) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "bucket": bucket,
        "accessKeyId": KEY_ID,
        "secretAccessKey": SECRET,
        "timeout": 5,
        **more,
    }


def test_conformance(endpoint: str, bucket: str) -> None:
    passed = asyncio.run(run_file_conformance(S3Connector(), _config(endpoint, bucket)))
    assert passed == ["spec", "write-read", "list", "move", "delete", "errors"]
    under = asyncio.run(run_file_conformance(S3Connector(), _config(endpoint, bucket, prefix="b")))
    assert under == passed


def test_paths_are_under_the_prefix_and_etags_follow_the_content(
    endpoint: str, bucket: str
) -> None:
    root = f"root-{uuid.uuid4().hex[:8]}"
    httpx.put(f"{endpoint}/{bucket}/{root}-sibling/x.txt", content=b"not ours").raise_for_status()

    async def go() -> tuple[list[Any], list[Any], bytes]:
        conn = await S3Connector().open(_config(endpoint, bucket, prefix=f"{root}/in/"), "docs")
        whole = await S3Connector().open(_config(endpoint, bucket), "docs")
        try:
            await conn.write_file("orders/1.json", b'{"id": 1}')
            first = await conn.list_files()
            await conn.write_file("orders/1.json", b'{"id": 1, "v": 2}')
            stored = await whole.read_file(f"{root}/in/orders/1.json")
            return first, await conn.list_files("orders/"), stored
        finally:
            await conn.close()
            await whole.close()

    first, second, stored = asyncio.run(go())
    assert [f.path for f in first] == ["orders/1.json"]
    assert [f.path for f in second] == ["orders/1.json"]
    assert first[0].etag
    assert second[0].etag
    assert first[0].etag != second[0].etag
    assert second[0].size == len(b'{"id": 1, "v": 2}')
    assert stored == b'{"id": 1, "v": 2}'


def test_a_listing_follows_every_page(endpoint: str, bucket: str) -> None:
    # A store's page is 1,000 keys: 1,005 files take two. They are put into the server's state
    # directly (in this process), which is quicker than as many PUTs.
    folder = f"many-{uuid.uuid4().hex[:8]}"
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for n in range(1005):
        backend.put_object(bucket, f"{folder}/f{n:04d}.txt", b"x")

    async def go() -> list[str]:
        conn = await S3Connector().open(_config(endpoint, bucket), "docs")
        try:
            return [f.path for f in await conn.list_files(f"{folder}/f1")]
        finally:
            await conn.close()

    # The folder is listed whole (both pages), then f1000 .. f1004 kept, all on the second.
    assert asyncio.run(go()) == [f"{folder}/f{n:04d}.txt" for n in range(1000, 1005)]


def _no_secret(text: str) -> None:
    assert SECRET not in text
    assert KEY_ID not in text


#: The test's server logs what it receives (the key id too): the client's side is what counts.
_SERVER_SIDE = ("moto", "werkzeug", "botocore", "boto3", "urllib3")


def _client_logs(caplog: pytest.LogCaptureFixture) -> str:
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith(_SERVER_SIDE)]
    assert lines, "the test captured no client log line to look into"
    return "\n".join(lines)


def test_a_missing_bucket_is_named(endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    missing = f"il-missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ObjectNotFound) as error:
        asyncio.run(S3Connector().open(_config(endpoint, missing), "docs"))
    assert str(error.value) == (
        f"System/docs (bucket {missing}): the bucket does not exist at {endpoint}"
    )
    assert not error.value.retryable
    _no_secret(_client_logs(caplog))


def test_an_unreachable_endpoint_is_retryable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    nowhere = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailed) as error:
        asyncio.run(S3Connector().open(_config(nowhere, "il-any-bucket", timeout=2), "docs"))
    assert str(error.value) == (
        f"System/docs (bucket il-any-bucket): cannot reach the store at {nowhere} (no answer)"
    )
    assert error.value.retryable
    _no_secret(_client_logs(caplog))


def test_refused_credentials_are_not_retryable(
    endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # From now on moto checks every request's keys against its IAM users: there are none.
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with pytest.raises(ConnectionFailed) as error:
        asyncio.run(S3Connector().open(_config(endpoint, bucket), "docs"))
    message = str(error.value)
    assert message.startswith(f"System/docs (bucket {bucket}): the store refused the credentials")
    assert "InvalidAccessKeyId" in message
    assert not error.value.retryable
    _no_secret(message)
    _no_secret(_client_logs(caplog))


def test_a_missing_file_and_a_bad_path(endpoint: str, bucket: str) -> None:
    async def go() -> list[ConnectorError]:
        conn = await S3Connector().open(_config(endpoint, bucket), "docs")
        errors = []
        try:
            for operation in (
                lambda: conn.read_file("nope/x.csv"),
                lambda: conn.move_file("nope/x.csv", "y.csv"),
                lambda: conn.write_file("/abs.csv", b""),
                lambda: conn.list_files("a//b"),
            ):
                with pytest.raises(ConnectorError) as error:
                    await operation()
                errors.append(error.value)
            await conn.delete_file("nope/x.csv")  # already gone: no error
        finally:
            await conn.close()
        return errors

    errors = asyncio.run(go())
    assert [str(e) for e in errors[:2]] == ["System/docs (nope/x.csv): no such file"] * 2
    assert all(isinstance(e, ObjectNotFound) for e in errors[:2])
    assert [e.object for e in errors[2:]] == ["'/abs.csv'", "'a//b'"]
    assert not any(e.retryable for e in errors)


def test_the_connection_schema() -> None:
    assert SPEC.problems({"bucket": "bkt", "accessKeyId": KEY_ID, "secretAccessKey": SECRET}) == [
        (("accessKeyId",), "is a secret: give it as a ${secret:NAME} reference, never the value"),
        (
            ("secretAccessKey",),
            "is a secret: give it as a ${secret:NAME} reference, never the value",
        ),
    ]
    problems = SPEC.problems({"bucket": "bkt", "accessKeyId": "${secret:k}"})
    assert [p for _, p in problems] == ['"secretAccessKey" is a required property']
    assert SPEC.problems({"bucket": "bkt", "endpoint": "http://minio:9000/"}) == []
    assert SPEC.problems({"bucket": "bkt", "endpoint": "http://u:p@minio:9000/x"}) != []
