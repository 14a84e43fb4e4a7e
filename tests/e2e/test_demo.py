"""`interlink demo` with its companions: signed deliveries, a retry, a dead letter replayed; the
order saga completing and compensated against the mock systems; address changes in the ERP."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from interlink.examples.mocks import SHIPS_TO
from interlink.testing.processes import (
    InterlinkProcess,
    free_port,
    interlink_command,
    run_interlink,
)

#: The ports `interlink demo` gives its mock systems unless told otherwise.
FIXED_PORTS = set(range(9101, 9108))
#: The Systems the demo runs stand-ins for, by the file that declares them.
MOCKED = {
    "sales.yaml": ("crm", "crm-legacy"),
    "operations.yaml": ("logistics", "analytics", "erp", "billing", "inventory"),
}


def demo_args(directory: Path) -> list[str]:
    """A demo on ports of its own: never the fixed ones a demo running beside the tests holds."""
    return [
        "demo",
        "--dir",
        str(directory),
        "--admin-listen",
        f"127.0.0.1:{free_port()}",
        "--companions-port",
        "0",
    ]


@pytest.mark.slow
def test_the_demo_shows_retries_and_a_dead_letter_replayed(tmp_path: Path) -> None:
    demo = InterlinkProcess(demo_args(tmp_path / "demo"), cwd=tmp_path)
    with demo:
        first = demo.wait_for(r"crm +→ published customer.address-updated #1 for (C\d{6})")
        # Logistics turns the first delivery away with 503 + Retry-After, then takes it.
        demo.wait_for(r"logistics +← .*\(signature ok, .*\): answered 503")
        demo.wait_for(r"logistics +← .*\(signature ok, .*\): answered 204")
        # Analytics refuses the first event until its retries are spent: a dead letter, replayed.
        dead = demo.wait_for(r"dlq +✗ (analytics-address-updates:1) dead after", timeout=120)
        assert dead.group(1) == "analytics-address-updates:1"
        demo.wait_for(r"analytics is back, replaying", timeout=5)
        first_id = demo.wait_for(
            rf"analytics +← customer.address-updated {first.group(1)} \(signature ok, "
            r"webhook-id (\S+)\): answered 500"
        ).group(1)
        demo.wait_for(
            rf"analytics +← customer.address-updated {first.group(1)} \(signature ok, "
            rf"webhook-id {re.escape(first_id)}\): answered 204",
            timeout=30,
        )
        assert "BAD signature" not in demo.output
        demo.signal(signal.SIGINT)
        assert demo.proc is not None
        assert demo.proc.wait(15) == 0


def test_the_demo_puts_the_customers_api_behind_the_gateway(tmp_path: Path) -> None:
    demo = InterlinkProcess(demo_args(tmp_path / "demo"), cwd=tmp_path)
    with demo:
        gateway = demo.wait_for(r"gateway +(http://\S+)").group(1)
        console = demo.wait_for(r"console +(http://\S+/console/)").group(1)
        link = demo.wait_for(r"sign-in link +(http://\S+/console/sign-in/link\?code=[\w-]+)")
        partner = demo.wait_for(r"partner key +(ik_\S+)").group(1)
        jwt = demo.wait_for(r"Authorization: Bearer (ey[\w-]+\.[\w-]+\.[\w-]+)").group(1)
        demo.wait_for("Ctrl-C stops.")
        demo.wait_for(r"crm +→ published")  # the companions are up
        url = f"{gateway}/api/customers/C000001"
        by_key = httpx.get(url, headers={"x-api-key": partner})
        assert by_key.status_code == 200, by_key.text
        assert by_key.json()["servedBy"] in ("crm-legacy", "crm")
        assert by_key.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert 'rel="successor-version"' in by_key.headers["link"]
        assert "ratelimit" in by_key.headers
        by_jwt = httpx.get(url, headers={"authorization": f"Bearer {jwt}"})
        assert by_jwt.status_code == 200, by_jwt.text
        v2 = httpx.get(f"{gateway}/api/v2/customers/C000001", headers={"x-api-key": partner})
        assert v2.json()["givenName"] == "Ada"
        assert httpx.get(url).status_code == 401
        sign_in = httpx.get(console, follow_redirects=True)  # the console the demo printed
        assert (sign_in.status_code, sign_in.url.path) == (200, "/console/sign-in")
        for browser, then in ((httpx.Client(), "/console/"), (httpx.Client(), "reason=link")):
            with browser:  # the printed link signs in once
                page = browser.get(link.group(1))
                fields = dict(re.findall(r'name="(csrf|code)" value="([^"]+)"', page.text))
                used = browser.post(f"{console}sign-in/link", data=fields)
                assert used.headers["location"].endswith(then)
        invalid = httpx.get(f"{gateway}/api/customers/nope", headers={"x-api-key": partner})
        assert invalid.status_code == 400
        assert invalid.json()["violations"][0]["pointer"] == "/path/id"
        # Every request was also copied to the new CRM, which spells tiers its own way.
        deadline = time.monotonic() + 40
        while True:
            compared = run_interlink(
                ["routes", "compare", "customers", "--estate", str(tmp_path / "demo")]
            )
            if "/tier" in compared.stdout or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert "/tier" in compared.stdout, compared.stdout + compared.stderr


def system_urls(directory: Path) -> dict[str, str]:
    """The base URLs of the Systems the demo mocks, as its copy of the estate says."""
    urls = {}
    for file, names in MOCKED.items():
        for doc in yaml.safe_load_all((directory / "systems" / file).read_text()):
            if doc["metadata"]["name"] in names:
                urls[doc["metadata"]["name"]] = doc["spec"]["baseUrl"]
    assert len(urls) == sum(len(names) for names in MOCKED.values())
    return urls


def system_ports(directory: Path) -> set[int]:
    return {int(url.rsplit(":", 1)[1]) for url in system_urls(directory).values()}


def test_the_demo_banner_stays_readable_and_its_credentials_can_be_printed(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "demo"
    command = interlink_command()[0]
    # As after `make demo`: the venv's bin is not on PATH.
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != Path(command).parent
    )
    demo = InterlinkProcess(demo_args(directory), cwd=tmp_path, env={"PATH": path})
    with demo:
        token = demo.wait_for(r"admin token +(il_\S+)").group(1)
        demo.wait_for("Ctrl-C stops.")
        demo.wait_for(r"logistics +← .*answered 204")  # events went through the gateway
        assert not system_ports(directory) & FIXED_PORTS
        assert f"  {command} dlq list --admin" in demo.output
        assert "\n  interlink " not in demo.output
        assert '"request_id"' not in demo.output  # no access log unless --access-log
        assert "HTTP Request:" not in demo.output  # nor the simulator's HTTP client
        credentials = directory / "credentials.txt"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        assert token in credentials.read_text()
        printed = run_interlink(["demo", "--dir", str(directory), "--print-credentials"])
        assert printed.returncode == 0, printed.stderr
        assert re.search(rf"^admin token +{token}$", printed.stdout, re.M)
        assert re.search(r"^partner key +ik_", printed.stdout, re.M)
    missing = run_interlink(["demo", "--dir", str(tmp_path / "none"), "--print-credentials"])
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"interlink: error: no demo credentials in {tmp_path / 'none'}: they are written when the "
        "demo starts"
    )


def poll(what: Callable[[], Any], deadline: float = 30.0) -> Any:
    """``what()`` once it is truthy; fails after ``deadline`` seconds with its last value."""
    end = time.monotonic() + deadline
    while True:
        value = what()
        if value or time.monotonic() > end:
            assert value, f"still {value!r} after {deadline} s"
            return value
        time.sleep(0.2)


def order(order_id: str, amount: float, customer: str = "C000001") -> dict[str, Any]:
    return {
        "orderId": order_id,
        "customerId": customer,
        "items": [{"sku": "SKU-LAMP", "quantity": 2}],
        "amount": amount,
        "currency": "EUR",
        "shipTo": {"street": "1 Market St", "city": "Berlin", "country": "DE"},
    }


def by_order(mock_url: str, collection: str, order_id: str) -> list[dict[str, Any]]:
    """What a mock system keeps in ``collection`` for one order."""
    shown = httpx.get(f"{mock_url}/received").json()
    return [v for v in shown[collection].values() if v["order"] == order_id]


def received_with(mock_url: str, key: str) -> dict[str, Any]:
    """The one request a mock system received with this Idempotency-Key."""
    received: list[dict[str, Any]] = httpx.get(f"{mock_url}/received").json()["received"]
    [found] = [r for r in received if r["idempotencyKey"] == key]
    return found


@pytest.mark.slow
def test_the_demo_order_saga_completes_or_is_compensated_and_addresses_reach_the_erp(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "demo"
    demo = InterlinkProcess(demo_args(directory), cwd=tmp_path)
    with demo:
        admin = demo.wait_for(r"admin API +(http://\S+)").group(1)
        token = demo.wait_for(r"admin token +(il_\S+)").group(1)
        gateway = demo.wait_for(r"gateway +(http://\S+)").group(1)
        crm_key = demo.wait_for(r"CRM API key +(ik_\S+)").group(1)
        shop_key = demo.wait_for(r"shop key +(ik_\S+)").group(1)
        demo.wait_for("Ctrl-C stops.")
        mocks = system_urls(directory)
        assert f"curl {mocks['inventory']}/received" in demo.output
        demo.wait_for(r"shop +→ POST /api/orders O-\S+ .*: 200 completed, run \S+")
        admin_headers = {"authorization": f"Bearer {token}"}
        shop = {"x-api-key": shop_key}
        tag = uuid.uuid4().hex[:8]

        # Billing takes the payment: stock held, card charged, shipment booked, 200 with the result.
        accepted = order(f"O-{tag}-ok", 49.9)
        answer = httpx.post(f"{gateway}/api/orders", json=accepted, headers=shop, timeout=10)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["status"] == "confirmed"
        run = httpx.get(
            f"{admin}/api/v1/flows/runs/{answer.headers['interlink-flow-run']}",
            headers=admin_headers,
        ).json()
        assert run["status"] == "completed"
        [held] = by_order(mocks["inventory"], "reservations", accepted["orderId"])
        assert held["status"] == "held"
        [charged] = by_order(mocks["billing"], "payments", accepted["orderId"])
        assert (charged["status"], charged["amount"]) == ("charged", 49.9)
        [shipment] = by_order(mocks["logistics"], "shipments", accepted["orderId"])
        assert shipment["to"]["city"] == "Berlin"
        assert result["shipment"] in httpx.get(f"{mocks['logistics']}/received").json()["shipments"]
        again = httpx.post(f"{gateway}/api/orders", json=accepted, headers=shop, timeout=10)
        assert again.status_code == 409  # the same order is carried out once

        # Billing declines: the run is compensated, the reservation released, nothing shipped.
        declined = order(f"O-{tag}-big", 900.0)
        answer = httpx.post(f"{gateway}/api/orders", json=declined, headers=shop, timeout=10)
        assert answer.status_code == 502, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        run_id = answer.headers["interlink-flow-run"]
        assert f"run {run_id} compensated" in answer.json()["detail"]
        [released] = by_order(mocks["inventory"], "reservations", declined["orderId"])
        assert released["status"] == "released"
        assert by_order(mocks["billing"], "payments", declined["orderId"]) == []
        assert by_order(mocks["logistics"], "shipments", declined["orderId"]) == []
        shown = run_interlink(["flows", "show", run_id, "--admin", admin, "--token", token])
        assert shown.returncode == 0, shown.stderr
        assert '"status": "compensated"' in shown.stdout

        # Logistics cannot ship it: the payment is refunded and the stock released, in that order.
        abroad = order(f"O-{tag}-abroad", 30.0)
        abroad["shipTo"] = {"street": "1 Main St", "city": "Boston", "country": "US"}
        answer = httpx.post(f"{gateway}/api/orders", json=abroad, headers=shop, timeout=10)
        assert answer.status_code == 502, answer.text
        assert "compensated" in answer.json()["detail"]
        payments = httpx.get(f"{mocks['billing']}/received").json()["payments"]
        [(refunded_id, refunded)] = [
            (k, v) for k, v in payments.items() if v["order"] == abroad["orderId"]
        ]
        assert refunded["status"] == "refunded"
        [released] = by_order(mocks["inventory"], "reservations", abroad["orderId"])
        assert released["status"] == "released"
        run_id = answer.headers["interlink-flow-run"]
        refund = received_with(mocks["billing"], f"{run_id}:charge-payment:compensate")
        release = received_with(mocks["inventory"], f"{run_id}:reserve-stock:compensate")
        assert (refund["path"], release["method"]) == (f"/payments/{refunded_id}/refund", "DELETE")
        assert refund["at"] < release["at"]  # the later step is undone first

        # An order.placed event runs the same saga, through Subscription/order-saga-orders.
        by_event = order(f"O-{tag}-event", 20.0)
        published = httpx.post(
            f"{gateway}/events/order.placed",
            json=by_event,
            headers={
                **shop,
                "ce-specversion": "1.0",
                "ce-id": f"order-{tag}",
                "ce-source": "webshop",
                "ce-type": "order.placed",
            },
        )
        assert published.status_code < 300, published.text
        poll(lambda: by_order(mocks["logistics"], "shipments", by_event["orderId"]))

        # An address change reaches the ERP through Flow/address-sync, and billing hears of it.
        street = f"{tag} Hauptstrasse"
        change = {
            "customerId": "C000004",
            "address": {"street": street, "city": "Munich", "postalCode": "80331", "country": "DE"},
            "changedAt": "2026-11-22T10:00:00Z",
        }
        published = httpx.post(
            f"{gateway}/events/customer.address-updated",
            json=change,
            headers={
                "x-api-key": crm_key,
                "ce-specversion": "1.0",
                "ce-id": f"address-{tag}",
                "ce-source": "crm",
                "ce-type": "customer.address-updated",
            },
        )
        assert published.status_code < 300, published.text

        def in_erp() -> list[dict[str, Any]]:
            received = httpx.get(f"{mocks['erp']}/received").json()["received"]
            return [r for r in received if r["body"] and r["body"].get("street") == street]

        [put] = poll(in_erp)
        assert (put["method"], put["path"], put["status"]) == (
            "PUT",
            "/customers/C000004/billing-address",
            200,
        )
        assert put["idempotencyKey"].endswith(":update-erp")

        def in_billing() -> list[dict[str, Any]]:
            changes = httpx.get(f"{mocks['billing']}/received").json()["addressChanges"]
            return [c for c in changes.values() if c.get("street") == street]

        poll(in_billing)

        # After a few seconds of demo, the simulated shop's runs are listed, both ways they end.
        def runs() -> str:
            listed = run_interlink(
                ["flows", "runs", "order-saga", "--admin", admin, "--token", token]
            ).stdout
            return listed if " completed " in listed and " compensated " in listed else ""

        poll(runs)
        demo.signal(signal.SIGINT)
        assert demo.proc is not None
        assert demo.proc.wait(15) == 0


def printed_commands(output: str, section: str) -> list[list[str]]:
    """The commands the banner prints under ``section`` (up to the next heading), as argument
    lists: run exactly as a reader would paste them."""
    lines = output.split(section, 1)[1].splitlines()[1:]
    commands = []
    for line in lines:
        if not line.startswith("  "):
            break
        commands.append(shlex.split(line.strip(), comments=True))
    return commands


def curl(args: list[str], *, check: bool = True) -> str:
    """What a printed curl command answers (asserted a 2xx unless ``check`` is false: then
    an error is "")."""
    assert args[0] == "curl", args
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if not check and done.returncode != 0:
        return ""
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_demo_serves_customer_360_masked_or_whole_and_a_bad_refresh_keeps_the_last_data(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "demo"
    demo = InterlinkProcess(demo_args(directory), cwd=tmp_path)
    with demo:
        demo.wait_for("Ctrl-C stops.")
        demo.wait_for(r"crm +→ published")  # the companions are up
        partner, analytics, csv, sql, bad, history, reads = printed_commands(
            demo.output, "Data products (customer-360"
        )
        # The partner: personal data masked, only customers in the countries it ships to.
        # customer-360 is served once its first refresh is done (503 until then).
        rows = poll(lambda: json.loads(curl(partner, check=False) or "{}").get("data"))
        assert rows
        assert all(r["country"] in SHIPS_TO for r in rows)
        for row in rows:
            assert "@" not in row["email"]
            assert len(row["email"]) == 64
            assert row["street"] in ("***", None)
            assert row["name"].startswith("*")
        # Analytics holds pii:read: the same rows, whole.
        whole = json.loads(curl(analytics))["data"]
        assert all("@" in r["email"] and not r["name"].startswith("*") for r in whole)
        assert whole
        assert curl(csv).splitlines()[0] == '"id","city","spent"'
        assert json.loads(curl(sql))["data"][0].keys() == {"country", "customers", "spent"}

        # Each of those reads of PII columns is recorded: the partner's masked, analytics' not.
        def traced() -> str:
            shown = run_interlink(reads[reads.index("lineage") :])
            assert shown.returncode == 0, shown.stderr
            return shown.stdout if "Consumer/analytics" in shown.stdout else ""

        trail = poll(traced)
        assert "-> Consumer/acme-logistics  (rows=" in trail
        assert "masked=name:partial,email:hash,street:redact via=page" in trail
        assert "unmasked=name,email,street masked= via=page" in trail
        # A customer breaking the contract: the refresh fails, the last good data serves on.
        assert json.loads(curl(bad))["badCustomer"] is True
        demo.wait_for(
            r"DataProduct/customer-360: refresh failed: DataProduct/crm-customers: contract "
            r"broken: email: 1 row\(s\) do not match",
            timeout=60,
        )
        after = json.loads(curl(analytics))["data"]
        assert "C000099" not in {r["id"] for r in after}
        assert after
        shown = run_interlink(history[history.index("products") :])
        assert shown.returncode == 0, shown.stderr
        assert "failed  DataProduct/crm-customers: contract broken: email" in shown.stdout
