"""A test case's mocks as the engine's call transport: each call a step makes is answered by
the case's mock for that step, and recorded, instead of going out over the network.

A mock's answers are given in turn, one per call, the last one again for any call after it (a
single answer is every call's). Query and write steps are mocked the same way
(:meth:`MockTransport.data`): the mock's ``body`` is the rows a query returns, or the count a
write reports; a send step's mock answers nothing, and records the body sent. A call to a step
the case mocks not fails at once, not retried, and is remembered so that the case can say so.
A delay is slept on the virtual timer: an answer slower than the step's ``timeout`` times the
attempt out, as a real one would.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from interlink.errors import UpstreamTimeout, UpstreamUnavailable
from interlink.estate.flow_tests import Address, MockAnswer
from interlink.flows.calls import Answer, CallRequest
from interlink.flows.data import DataRequest
from interlink.flows.retry import StepFailed
from interlink.flows.timing import Timer


@dataclass(frozen=True)
class Sent:
    """A call a step made, as the System would have received it."""

    address: Address
    method: str
    path: str
    body: Any
    to: str  # "System/erp", "Api/customers"


class MockTransport:
    def __init__(self, mocks: dict[Address, list[MockAnswer]], timer: Timer) -> None:
        self._mocks = mocks
        self._timer = timer
        self._count: Counter[Address] = Counter()
        self.sent: list[Sent] = []
        self.unmocked: list[Sent] = []

    async def __call__(self, request: CallRequest) -> Answer:
        address = Address(request.flow, request.step, request.compensate)
        to = f"{request.kind}/{request.target}"
        sent = Sent(address, request.method, request.path, request.body, to)
        self.sent.append(sent)
        answers = self._mocks.get(address)
        if answers is None:
            self.unmocked.append(sent)
            raise StepFailed(
                f"{request.method} {request.path} to {to} has no mock", retryable=False
            )
        answer = answers[min(self._count[address], len(answers) - 1)]
        self._count[address] += 1
        if answer.delay:
            await self._timer.sleep(answer.delay)
        if answer.error == "timeout":
            raise UpstreamTimeout(f"{to} did not answer in time (mocked)")
        if answer.error == "connection":
            raise UpstreamUnavailable(f"no connection to {to} could be made (mocked)")
        body = b""
        if "body" in answer.model_fields_set:
            body = json.dumps(answer.body, separators=(",", ":")).encode()
        return Answer(answer.status, body)

    async def data(self, request: DataRequest) -> Any:
        """A query's, write's or file's mocked answer: its ``body`` is the rows (a query) or the
        count written (a write; default: the rows given; a file: its size). An ``error`` is a
        transient failure, retried like a dropped connection; a status of 400 or more a
        permanent one."""
        address = Address(request.flow, request.step)
        to = f"System/{request.system}"
        body: Any = request.params if request.operation == "query" else request.rows
        if request.operation == "file":
            body = request.data.decode("utf-8", "replace")
        elif request.message is not None:
            body = request.message.body
        sent = Sent(address, request.operation.upper(), request.label, body, to)
        self.sent.append(sent)
        answers = self._mocks.get(address)
        if answers is None:
            self.unmocked.append(sent)
            raise StepFailed(f"{request.operation} on {to} has no mock", retryable=False)
        answer = answers[min(self._count[address], len(answers) - 1)]
        self._count[address] += 1
        if answer.delay:
            await self._timer.sleep(answer.delay)
        if answer.error is not None:
            what = "timed out" if answer.error == "timeout" else "lost its connection"
            raise StepFailed(f"{to}: the {request.operation} {what} (mocked)", retryable=True)
        if answer.status >= 400:
            raise StepFailed(
                f"{to}: the {request.operation} failed (mocked status {answer.status})",
                retryable=False,
            )
        if "body" in answer.model_fields_set:
            return answer.body
        if request.operation == "file":
            return len(request.data)
        if request.operation == "send":
            return None
        return [] if request.operation == "query" else len(request.rows)
