"""A data-plane node (`interlink serve --control-plane`) in front of a real upstream: it serves
its routes with the control plane stopped, picks up a new revision when the control plane is
back, starts from its last good revision on disk while the control plane is down, and reports
itself in the control plane's node list."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from interlink.testing.processes import TOKEN, InterlinkProcess, free_port, run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.unit.gateway.helpers import route, write_estate


def estate(root: Path, upstream: str, *paths: str) -> Path:
    """An estate routing each of ``paths`` to the upstream."""
    routes = [route(p.strip("/"), p, "crm") for p in paths]
    return write_estate(root, {"crm": upstream}, routes)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.05)


def status_of(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


class ControlPlane:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.admin = f"127.0.0.1:{free_port()}"
        self.proc: InterlinkProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.admin}"

    def start(self) -> InterlinkProcess:
        self.proc = InterlinkProcess(
            ["serve", str(self.directory), "--admin-listen", self.admin]
        ).start()
        self.proc.wait_for(r"admin API on http://")
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stop() == 0, self.proc.output
            self.proc = None


class DataPlaneNode:
    def __init__(self, control_plane: str, token: str, state_dir: Path) -> None:
        self.args = ["serve", "--control-plane", control_plane, "--state-dir", str(state_dir)]
        self.env = {"INTERLINK_CONTROL_PLANE_TOKEN": token}
        self.proc: InterlinkProcess | None = None
        self.gateway = self.admin = ""

    def ready(self) -> dict[str, object]:
        found: dict[str, object] = httpx.get(f"{self.admin}/readyz", timeout=5).json()
        return found

    def start(self) -> InterlinkProcess:
        admin = f"127.0.0.1:{free_port()}"
        self.proc = InterlinkProcess([*self.args, "--admin-listen", admin], env=self.env).start()
        self.admin = f"http://{admin}"
        self.gateway = "http://" + self.proc.wait_for(r"gateway on http://(\S+)").group(1)
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stop() == 0, self.proc.output
            self.proc = None


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as running:
        yield running


def test_a_data_plane_node_serves_without_its_control_plane_and_catches_up(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    cp = ControlPlane(estate(tmp_path / "cp", upstream.url, "/orders"))
    cp_proc = cp.start()
    dp = DataPlaneNode(cp.url, "", tmp_path / "edge")
    try:
        admin_token = TOKEN.search(cp_proc.output)
        assert admin_token is not None
        created = run_interlink(
            ["admin", "token", "create", "--role", "dataplane", "--name", "edge-1"],
            cwd=cp.directory,
        )
        assert created.returncode == 0, created.stderr
        dp_token = created.stdout.strip()
        dp = DataPlaneNode(cp.url, dp_token, tmp_path / "edge")
        dp_proc = dp.start()
        dp_proc.wait_for(r"revision 1\b")
        assert "data-plane node of the control plane at" in dp_proc.output
        assert status_of(f"{dp.gateway}/orders") == 200
        assert status_of(f"{dp.gateway}/customers") == 404
        assert (tmp_path / "edge" / "last-good.json").is_file()

        # It reports itself: the control plane lists it, live, with what it runs.
        auth = {"Authorization": f"Bearer {admin_token.group(1)}"}

        def listed() -> list[dict[str, object]]:
            nodes = httpx.get(f"{cp.url}/api/v1/nodes", headers=auth, timeout=5).json()["nodes"]
            found: list[dict[str, object]] = nodes
            return [n for n in found if n["gateway_address"] == dp.gateway.removeprefix("http://")]

        wait_for(lambda: len(listed()) == 1)
        (node,) = listed()
        assert node["live"] is True
        assert node["revision"] == {"id": 1, "hash": node["revision"]["hash"]}  # type: ignore[index]
        assert node["health"]["revision"] == "ok"  # type: ignore[index]

        # The control plane stops: the data plane keeps serving, and says so once.
        cp.stop()
        dp_proc.wait_for(r"control plane at .*; serving revision 1 until it is back")
        for _ in range(5):
            assert status_of(f"{dp.gateway}/orders") == 200
        assert dp.ready() == {"status": "ready", "revision": 1, "control_plane": "unreachable"}
        time.sleep(4.5)  # two more tries at reaching it, at least
        assert dp_proc.output.count("until it is back") == 1

        # It comes back, and a new revision (one more route) is applied on it.
        cp.start()
        second = estate(tmp_path / "next", upstream.url, "/orders", "/customers")
        applied = run_interlink(
            ["apply", str(second), "--admin", cp.url, "--token", admin_token.group(1)]
        )
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.startswith("revision 2 applied")
        wait_for(lambda: status_of(f"{dp.gateway}/customers") == 200)
        assert f"the control plane at {cp.url} is reachable again" in dp_proc.output
        assert "revision 2 applied (control plane)" in dp_proc.output
        assert dp.ready() == {"status": "ready", "revision": 2, "control_plane": "reachable"}
        # Revisions are applied on the control plane, not on a data-plane node.
        dp_admin = TOKEN.search(dp_proc.output)
        assert dp_admin is not None
        refused = httpx.post(
            f"{dp.admin}/api/v1/estate/reload",
            headers={"Authorization": f"Bearer {dp_admin.group(1)}"},
            timeout=5,
        )
        assert refused.status_code == 409
        assert "this is a data-plane node" in refused.json()["detail"]
        wait_for(lambda: [n["revision"]["id"] for n in listed()] == [2])  # type: ignore[index]

        # Both stop; the data-plane node starts again from its last good revision on disk.
        dp.stop()
        cp.stop()
        restarted = dp.start()
        restarted.wait_for(r"starting from the last good revision 2 on disk")
        assert status_of(f"{dp.gateway}/customers") == 200
        assert status_of(f"{dp.gateway}/orders") == 200
        assert "Traceback" not in restarted.output
    finally:
        dp.stop()
        cp.stop()
    # Each 200 above came from the upstream, through the data plane's gateway.
    paths = [r["path"] for r in upstream.requests]
    assert (paths.count("/orders"), paths.count("/customers")) == (7, 2)


def test_a_data_plane_node_with_no_control_plane_and_nothing_on_disk_says_so(
    tmp_path: Path,
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = run_interlink(
        ["serve", "--control-plane", unreachable, "--state-dir", str(tmp_path / "edge")],
        env={"INTERLINK_CONTROL_PLANE_TOKEN": "il_x_unused"},
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"interlink: error: cannot reach the control plane at {unreachable}")
    assert "no last good revision to start from" in line


def test_a_data_plane_node_with_a_wrong_token_says_so(tmp_path: Path) -> None:
    cp = ControlPlane(estate(tmp_path / "cp", "http://127.0.0.1:9", "/orders"))
    proc = cp.start()
    try:
        admin_token = TOKEN.search(proc.output)
        assert admin_token is not None
        for token, why in (
            ("il_nope_nope", "the token is unknown or revoked"),
            (admin_token.group(1), "needs the dataplane role; the token has admin"),
        ):
            result = run_interlink(
                ["serve", "--control-plane", cp.url, "--state-dir", str(tmp_path / "edge")],
                env={"INTERLINK_CONTROL_PLANE_TOKEN": token},
            )
            assert result.returncode == 2
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith(f"interlink: error: the control plane at {cp.url} refuses")
            assert why in line
    finally:
        cp.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--control-plane", "http://127.0.0.1:9"], "needs a dataplane token"),
        (["serve", "est", "--control-plane", "http://x", "--token", "t"], "give no DIRECTORY"),
        (["serve", "--control-plane", "ftp://x", "--token", "t"], "is not an http://"),
        (["serve", "--state-dir", "s"], "--state-dir is for a data-plane node"),
    ],
)
def test_data_plane_flags_are_checked(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_interlink(args, cwd=tmp_path, env={"INTERLINK_CONTROL_PLANE_TOKEN": ""})
    assert result.returncode == 2
    assert message in result.stderr
