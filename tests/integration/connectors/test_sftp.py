"""The SFTP connector against an asyncssh SFTP server started in the test, its keys made here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from interlink.connectors.base import ConnectionFailed, ConnectorError
from interlink.connectors.connections import Connections
from interlink.connectors.sftp import SftpConnector
from interlink.estate.references import SecretSource
from interlink.flows.triggers.files import WatchSource
from interlink.testing.connectors import run_conformance

PASSWORD = "s3cret-pass-word"


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "acme" and password == PASSWORD


def serving(root: Path, test: Callable[[dict[str, Any], asyncssh.SSHKey], Awaitable[Any]]) -> Any:
    """Run ``test`` with the connection config of a server on loopback serving ``root``."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")

    async def go() -> Any:
        server = await asyncssh.create_server(
            _Server,
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(
                client_key.export_public_key().decode()
            ),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
        )
        port = server.sockets[0].getsockname()[1]
        config = {
            "host": "127.0.0.1",
            "port": port,
            "username": "acme",
            "privateKey": client_key.export_private_key().decode(),
            "hostKey": host_key.get_fingerprint("sha256"),
            "root": "/",
            "connectTimeout": 5,
        }
        try:
            return await test(config, host_key)
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


def test_conformance_with_a_key(tmp_path: Path) -> None:
    async def test(config: dict[str, Any], _: asyncssh.SSHKey) -> list[str]:
        return await run_conformance(SftpConnector(), SftpConnector.spec.defaults(config))

    assert serving(tmp_path, test) == ["spec", "write-read", "list", "move", "delete", "errors"]


def test_a_password_and_the_host_public_key_line(tmp_path: Path) -> None:
    async def test(config: dict[str, Any], host_key: asyncssh.SSHKey) -> bytes:
        del config["privateKey"]
        config.update(
            password=PASSWORD, hostKey=host_key.export_public_key().decode().strip(), root="/box"
        )
        conn = await SftpConnector().open(config, "partner")
        try:
            await conn.write_file("out/a.csv", b"id\n1\n")
            assert [f.path for f in await conn.list_files("out/")] == ["out/a.csv"]
            return await conn.read_file("out/a.csv")
        finally:
            await conn.close()

    (tmp_path / "box").mkdir()
    assert serving(tmp_path, test) == b"id\n1\n"
    assert (tmp_path / "box" / "out" / "a.csv").read_bytes() == b"id\n1\n"


def test_an_unknown_host_key_is_refused_before_logging_in(tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint("sha256")

    async def test(config: dict[str, Any], host_key: asyncssh.SSHKey) -> None:
        config.update(hostKey=other, password=PASSWORD)
        del config["privateKey"]
        with pytest.raises(ConnectionFailed) as caught:
            await SftpConnector().open(config, "partner")
        message = caught.value.message
        assert message.startswith(f"System/partner (127.0.0.1:{config['port']}): ")
        assert f"presented host key {host_key.get_fingerprint('sha256')}" in message
        assert PASSWORD not in message
        assert not caught.value.retryable

    serving(tmp_path, test)


def test_a_wrong_password_is_a_refused_login_without_the_secret(tmp_path: Path) -> None:
    async def test(config: dict[str, Any], _: asyncssh.SSHKey) -> None:
        del config["privateKey"]
        connections = Connections(
            secrets=SecretSource(environ={"INTERLINK_SECRET_PARTNER_SFTP": "wrong-pass-word"})
        )
        raw = {**config, "password": "${secret:partner-sftp}"}
        with pytest.raises(ConnectorError) as caught:
            await connections.get("partner", "sftp", raw)
        await connections.aclose()
        message = caught.value.message
        assert "System/partner" in message
        assert "refused the login of acme" in message
        assert "wrong-pass-word" not in message
        assert not caught.value.retryable

    serving(tmp_path, test)


def test_a_missing_root_names_the_file(tmp_path: Path) -> None:
    async def test(config: dict[str, Any], _: asyncssh.SSHKey) -> None:
        conn = await SftpConnector().open({**config, "root": "/nowhere"}, "partner")
        try:
            assert await conn.list_files("inbox/") == []
            with pytest.raises(ConnectorError) as caught:
                await conn.read_file("inbox/a.csv")
            assert caught.value.message.startswith("System/partner (inbox/a.csv): no such file")
        finally:
            await conn.close()

    serving(tmp_path, test)


def test_a_watch_trigger_reads_and_moves_files_over_sftp(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')

    async def test(config: dict[str, Any], _: asyncssh.SSHKey) -> list[Any]:
        key = {"INTERLINK_SECRET_PARTNER_KEY": config["privateKey"]}
        connections = Connections(secrets=SecretSource(environ=key))
        source = WatchSource(
            "Flow/ingest trigger drop",
            "partner",
            "sftp",
            {**config, "privateKey": "${secret:partner-key}"},
            prefix="inbox/",
            format="jsonl",
            connections=connections,
        )
        try:
            batch = await source.poll(None, 10)
            await source.settle(batch.items)
            again = await source.poll(None, 10)
        finally:
            await connections.aclose()
        assert again.items == []
        return [item.input["rows"] for item in batch.items]

    assert serving(tmp_path, test) == [[{"id": 1}, {"id": 2}]]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.jsonl"]
    assert list((tmp_path / "inbox").iterdir()) == []
