"""The singer and airbyte connectors running real subprocesses (the fake tap and source beside
this file, run with this interpreter): a stream polled into runs, its state stored and resumed
after a restart, records after the last STATE read again under the same key, failing taps as
one clear line, secrets scrubbed from logs and errors, and `interlink sources`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from interlink.cli.main import main
from interlink.connectors.base import ConnectorError, ObjectNotFound
from interlink.connectors.connections import Connections
from interlink.flows.triggers import Poller, TriggerCheckpoints
from interlink.flows.triggers.stream import StreamSource
from interlink.store import open_store

TAPS = Path(__file__).resolve().parent / "taps"
SINGER = [sys.executable, str(TAPS / "fake_singer_tap.py")]
AIRBYTE = [sys.executable, str(TAPS / "fake_airbyte_source.py")]
SECRET = "s3cr3t-Key-9f1"


class Files:
    """A tap's data file and journal in a test's directory."""

    def __init__(self, root: Path) -> None:
        self.data = root / "customers.json"
        self.journal = root / "journal.jsonl"
        self.customers(5)

    def customers(self, count: int) -> None:
        rows = [{"id": i, "updated": i * 10, "name": f"c{i}"} for i in range(1, count + 1)]
        self.data.write_text(json.dumps(rows), encoding="utf-8")

    def runs(self) -> list[dict[str, Any]]:
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    monkeypatch.setenv("INTERLINK_SECRET_CRM_KEY", SECRET)
    return Files(tmp_path)


def connection(files: Files, command: list[str], **config: Any) -> dict[str, Any]:
    base = {
        "api_key": "${secret:crm-key}",
        "data": str(files.data),
        "journal": str(files.journal),
    }
    return {"command": command, "config": {**base, **config}, "timeout": 20}


def source(connector: str, conn: dict[str, Any], stream: str = "customers") -> StreamSource:
    return StreamSource("crm", connector, conn, stream, connections=Connections())


def ids(batch: Any) -> list[int]:
    return [item.input["id"] for item in batch.items]


class Recorder:
    """The poller's ``start``: each run id it is given, in order."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, Any]] = []

    async def __call__(self, flow: str, input: Any, trigger: str, run_id: str) -> str:
        self.runs.append((run_id, input))
        return run_id

    async def until(self, count: int) -> None:
        while len(dict(self.runs)) < count:
            await asyncio.sleep(0.01)


def test_a_singer_stream_polls_into_runs_and_a_restart_resumes_from_its_state(
    files: Files, tmp_path: Path
) -> None:
    async def scenario() -> list[tuple[str, Any]]:
        recorded = Recorder()
        tap = source("singer", connection(files, SINGER, stateEvery=2))
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            checkpoints = TriggerCheckpoints(store.db)

            def poller() -> Poller:
                return Poller(
                    "ingest", "crm.customers", tap, recorded, checkpoints, interval=0.01, limit=3
                )

            first = poller()
            await first.start()
            await recorded.until(5)
            done = {"bookmarks": {"customers": {"updated": 50}}}
            while (saved := checkpoints.get("ingest:crm.customers")) is None or (
                saved.cursor != done
            ):
                await asyncio.sleep(0.01)
            await first.close()
            files.customers(7)
            second = poller()
            await second.start()
            await recorded.until(7)
            await second.close()
        return recorded.runs

    runs = asyncio.run(scenario())
    # The first poll stopped at the first STATE after 3 records (4 read), the next went on
    # from it; the restarted poller began at the stored state: no record ran twice.
    assert [run[1]["id"] for run in runs] == [1, 2, 3, 4, 5, 6, 7]
    journal = files.runs()
    assert "--discover" in journal[0]["argv"]  # once per connection: the catalog
    reads = journal[1:]
    assert reads[0]["state"] is None
    assert reads[1]["state"] == {"bookmarks": {"customers": {"updated": 40}}}
    assert reads[-1]["state"] == {"bookmarks": {"customers": {"updated": 50}}}
    assert "--catalog" in reads[-1]["argv"]
    assert "--discover" not in str([run["argv"] for run in reads])
    # The config was a private file, gone once the tap ended.
    assert {run["mode"] for run in journal} == {"0o600"}
    assert not any(Path(run["config"]).exists() for run in journal)


def test_records_after_the_last_state_are_read_again_under_the_same_keys(files: Files) -> None:
    tap = source("singer", connection(files, SINGER, stateEvery=2, noFinalState=True))
    first = asyncio.run(tap.poll(None, 100))
    assert ids(first) == [1, 2, 3, 4, 5]
    assert first.cursor == {"bookmarks": {"customers": {"updated": 40}}}
    assert not first.more
    again = asyncio.run(tap.poll(first.cursor, 100))
    assert ids(again) == [5]  # after the last STATE: read again, the same item
    assert again.items[0].key == first.items[-1].key == "customers:[5]@50"


def test_a_stream_without_key_is_keyed_by_a_digest_of_each_record(files: Files) -> None:
    tap = source("singer", connection(files, SINGER, noKey=True))
    one, two = asyncio.run(tap.poll(None, 100)), asyncio.run(tap.poll(None, 100))
    assert [i.key for i in one.items] == [i.key for i in two.items]
    assert len({i.key for i in one.items}) == 5
    assert all(i.key.startswith("customers:#") for i in one.items)


def test_an_airbyte_stream_resumes_from_its_per_stream_state(files: Files) -> None:
    tap = source("airbyte", connection(files, AIRBYTE, stateEvery=2))
    first = asyncio.run(tap.poll(None, 1))
    assert ids(first) == [1, 2]
    assert first.more
    assert first.cursor == [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "customers"}, "stream_state": {"updated": 20}},
        }
    ]
    rest = asyncio.run(tap.poll(first.cursor, 100))
    assert ids(rest) == [3, 4, 5]
    assert not rest.more
    assert rest.items[0].key == "customers:[3]@30"
    read = files.runs()[-1]
    assert read["state"] == first.cursor
    [configured] = read["catalog"]["streams"]
    assert (configured["sync_mode"], configured["cursor_field"]) == ("incremental", ["updated"])


@pytest.mark.parametrize(("connector", "command"), [("singer", SINGER), ("airbyte", AIRBYTE)])
def test_a_failing_tap_is_one_line_with_its_last_words_and_no_secret(
    files: Files,
    connector: str,
    command: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "interlink.connectors.taps")
    with pytest.raises(ConnectorError) as failed:
        asyncio.run(source(connector, connection(files, command, mode="fail")).poll(None, 10))
    message = failed.value.message
    assert message.startswith("System/crm (python")
    assert "fake_" in message
    assert "exited with status" in message
    assert "was refused" in message  # its last words
    assert SECRET not in message
    assert "***" in message
    logged = [r.getMessage() for r in caplog.records if r.name == "interlink.connectors.taps"]
    assert any("key *** was refused" in line for line in logged), logged
    assert not any(SECRET in line for line in logged)


def test_output_that_is_not_json_and_a_hung_tap_are_errors(files: Files) -> None:
    with pytest.raises(ConnectorError, match="line 1 of its output is not JSON: 'Starting"):
        asyncio.run(source("singer", connection(files, SINGER, mode="garbage")).poll(None, 10))
    hung = {**connection(files, SINGER, mode="hang"), "timeout": 0.3}
    with pytest.raises(ConnectorError, match=r"it sent nothing for 0.3s: stopped"):
        asyncio.run(source("singer", hung).poll(None, 10))
    missing = {**connection(files, SINGER), "command": [str(TAPS / "no-such-tap")]}
    with pytest.raises(ConnectorError, match=r"System/crm \(no-such-tap\): the tap cannot be"):
        asyncio.run(source("singer", missing).poll(None, 10))


def test_an_unknown_stream_says_what_the_tap_offers(files: Files) -> None:
    with pytest.raises(ObjectNotFound) as unknown:
        asyncio.run(source("airbyte", connection(files, AIRBYTE), "custmers").poll(None, 10))
    assert "no stream 'custmers' (did you mean 'customers'?); it offers: customers" in (
        unknown.value.message
    )


def test_a_failing_tap_backs_off_in_the_poller(files: Files, tmp_path: Path) -> None:
    async def scenario() -> Poller:
        tap = source("singer", connection(files, SINGER, mode="fail"))
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            poller = Poller(
                "ingest",
                "crm.customers",
                tap,
                Recorder(),
                TriggerCheckpoints(store.db),
                retry_initial=0.01,
                retry_limit=0.02,
            )
            await poller.start()
            while poller.backoff.failures < 2:
                await asyncio.sleep(0.01)
            await poller.close()
            assert TriggerCheckpoints(store.db).get("ingest:crm.customers") is None
        return poller

    assert asyncio.run(scenario()).backoff.failures >= 2


def test_a_poller_closed_mid_read_stops_the_tap_and_deletes_its_files(
    files: Files, tmp_path: Path
) -> None:
    async def scenario() -> None:
        tap = source("singer", connection(files, SINGER, mode="hang"))
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            poller = Poller(
                "ingest", "crm.customers", tap, Recorder(), TriggerCheckpoints(store.db)
            )
            await poller.start()
            while not files.journal.exists() or not files.journal.read_text().endswith("\n"):
                await asyncio.sleep(0.01)
            await poller.close()

    asyncio.run(scenario())
    [run] = files.runs()
    assert not Path(run["config"]).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(run["pid"], 0)  # stopped and reaped


# --- interlink sources ------------------------------------------------------------------------


def _estate(root: Path, files: Files) -> Path:
    root.mkdir()
    docs = [{"apiVersion": "interlink/v1", "kind": "Team", "metadata": {"name": "data"}}]
    for name, connector, command, extra in [
        ("crm", "airbyte", AIRBYTE, {}),
        ("bad", "airbyte", AIRBYTE, {"region": "nowhere"}),
        ("gh", "singer", SINGER, {}),
    ]:
        conn = connection(files, command, **extra)
        spec = {"domain": "data", "connector": connector, "connection": conn}
        meta = {"name": name, "owner": "data"}
        docs.append(
            {"apiVersion": "interlink/v1", "kind": "System", "metadata": meta, "spec": spec}
        )
    docs.append(
        {
            "apiVersion": "interlink/v1",
            "kind": "System",
            "metadata": {"name": "web", "owner": "data"},
            "spec": {"domain": "data", "baseUrl": "https://web.example"},
        }
    )
    text = "\n---\n".join(json.dumps(doc) for doc in docs)
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    return root


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_the_sources_commands_run_the_tap(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(_estate(tmp_path / "estate", files))
    code, out, _ = _cli(capsys, "sources", "spec", "crm", "--estate", root)
    assert code == 0
    assert "api_key  string (required, secret): the API key" in out
    code, out, _ = _cli(capsys, "sources", "check", "crm", "--estate", root)
    assert (code, out) == (0, "System/crm: check succeeded\n")
    code, out, err = _cli(capsys, "sources", "check", "bad", "--estate", root)
    assert (code, out, err) == (1, "", "interlink: System/bad: check failed: no region\n")
    code, out, _ = _cli(capsys, "sources", "discover", "crm", "--estate", root)
    assert code == 0
    assert out.splitlines()[1].split() == [
        "customers",
        "id",
        "updated",
        "full_refresh,incremental",
        "3",
    ]
    code, out, _ = _cli(capsys, "sources", "discover", "gh", "--estate", root)
    assert out.splitlines()[1].split() == ["customers", "id", "updated", "-", "3"]
    code, out, _ = _cli(capsys, "sources", "check", "gh", "--estate", root)
    assert out == "System/gh: check succeeded: discovered 2 streams: customers, other\n"
    code, out, _ = _cli(capsys, "sources", "spec", "gh", "--estate", root, "--json")
    assert json.loads(out)["properties"] == {"api_key": {"type": "string"}}


def test_the_sources_commands_fail_in_one_line(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(_estate(tmp_path / "estate", files))
    code, _, err = _cli(capsys, "sources", "check", "web", "--estate", root)
    assert code == 2
    assert err == (
        "interlink: error: System/web runs no tap (its connector is http): these commands run "
        "a System with connector singer or airbyte\n"
    )
    code, _, err = _cli(capsys, "sources", "discover", "crn", "--estate", root)
    assert err == "interlink: error: no System 'crn' in the estate (did you mean 'crm'?)\n"
    estate = Path(root) / "estate.yaml"
    estate.write_text(estate.read_text().replace('"nowhere"', '"x", "mode": "fail"'))
    docs = [json.loads(doc) for doc in estate.read_text().split("\n---\n")]
    docs[3]["spec"]["connection"]["config"]["mode"] = "fail"  # gh, the Singer tap
    estate.write_text("\n---\n".join(json.dumps(doc) for doc in docs))
    code, _, err = _cli(capsys, "sources", "check", "gh", "--estate", root)
    assert code == 1  # a Singer tap's check is its discovery: it failed
    assert err.startswith("interlink: System/gh: check failed: the tap exited with status 2;")
    assert "the key *** was refused" in err
    code, _, err = _cli(capsys, "sources", "discover", "bad", "--estate", root)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("interlink: error: System/bad (python")
    assert "exited with status 1; its last words: using key *** | the key *** was refused" in err
    assert SECRET not in err
