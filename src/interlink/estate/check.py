"""`interlink check`: load the estate, resolve its references and contracts, apply the rules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from interlink.estate.approvals import Approval
from interlink.estate.connections import ConnectorCatalog, connection_findings
from interlink.estate.contract_files import file_refs, load_contract
from interlink.estate.findings import Finding
from interlink.estate.flow_tests import flow_test_findings
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import API_VERSION, Api, DataProduct, Event
from interlink.estate.lifecycle import SUNSET_PASSED, Binding, lifecycle_bindings
from interlink.estate.links import links_of
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate, Loaded
from interlink.estate.rules import RULES


@dataclass
class CheckResult:
    estate: Estate
    findings: list[Finding] = field(default_factory=list)
    #: bindings to deprecated or retired versions (each one is also a finding)
    lifecycle: list[Binding] = field(default_factory=list)
    #: YAML files that hold no Interlink object, that no object uses (a contract, a file a
    #: contract refers to) and that no finding is about: other tools' files
    skipped: list[Path] = field(default_factory=list)
    #: with --against: the Teams whose approval the change needs (see estate/approvals.py)
    approvals: list[Approval] | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def runnable(self) -> bool:
        """No errors besides passed sunsets, which fail `check` but never stop the runtime."""
        return all(f.code == SUNSET_PASSED for f in self.errors)


def check_estate(
    root: Path, *, today: date | None = None, connectors: ConnectorCatalog | None = None
) -> CheckResult:
    """Everything `interlink check` reports, sorted by file and line.

    ``today`` is the day sunset dates are judged by (the real date unless given).
    ``connectors`` are the connectors installed (``interlink.connectors.registry()``): without
    them, Systems' connections and the Systems of SQL steps are not checked."""
    estate, findings = load_estate(root)
    return check_loaded(estate, findings, root, today=today, connectors=connectors)


def check_loaded(
    estate: Estate,
    findings: list[Finding],
    root: Path,
    *,
    today: date | None = None,
    connectors: ConnectorCatalog | None = None,
) -> CheckResult:
    """:func:`check_estate` of an estate loaded already (``findings``: the loader's)."""
    day = today or date.today()
    findings.extend(reference_findings(estate))
    findings.extend(load_contracts(estate))
    for rule in RULES:
        findings.extend(rule.check(estate, day))
    if connectors is not None:
        findings.extend(connection_findings(estate, connectors))
    findings.extend(flow_test_findings(estate, root.resolve()))
    # A contract written in YAML is read twice (as an estate file and as a contract): its
    # syntax problems are reported once.
    findings = list(dict.fromkeys(findings))
    if not estate.objects and not any(f.severity == "error" for f in findings):
        findings.append(EMPTY)
    findings.sort(key=sort_key)
    reported = {f.location.file for f in findings if f.location is not None}
    skipped = [f for f in skipped_files(estate) if f not in reported]
    return CheckResult(estate, findings, lifecycle_bindings(estate, day), skipped)


#: An estate without objects: an empty platform would start, serving nothing, and a mistyped
#: directory would pass `check` in CI.
EMPTY = Finding(
    "error",
    "ESTATE_EMPTY",
    f"no Interlink objects here (documents with apiVersion: {API_VERSION})",
    hint="`interlink init DIR --example retail` writes an example estate",
)


def skipped_files(estate: Estate) -> list[Path]:
    """The estate's YAML files with no Interlink object in them that no object uses."""
    used = set(estate.contracts)
    for item in estate:
        if isinstance(item.obj, DataProduct) and item.obj.spec.contract.file:
            used.add(item.resolve_file(item.obj.spec.contract.file))
    # Files a contract refers to, and the files they refer to in turn.
    todo = list(used)
    while todo:
        path = todo.pop()
        docs = estate.other_documents.get(path)
        contract = estate.contracts.get(path)
        data = [contract.data] if contract else [d.data for d in docs or ()]
        for node in data:
            for target in file_refs(node, path.parent):
                if target not in used:
                    used.add(target)
                    todo.append(target)
    return sorted(f for f in estate.other_documents if f not in used)


def sort_key(finding: Finding) -> tuple[str, int, int]:
    loc = finding.location
    return (str(loc.file), loc.line, loc.col) if loc else ("", 0, 0)


def reference_findings(estate: Estate) -> list[Finding]:
    out: list[Finding] = []
    for item in estate:
        for link in links_of(item.obj):
            if link.target_key in estate.objects:
                continue
            hint = did_you_mean(link.target, estate.names(link.target_kind))
            if hint is None and not estate.names(link.target_kind):
                hint = f"the estate has no {link.target_kind} yet"
            out.append(
                Finding(
                    "error",
                    "REF_UNKNOWN",
                    f"{item.key} refers to {link.target_key}, which does not exist",
                    item.location(link.path),
                    hint=hint,
                    subject=item.key,
                )
            )
    return out


def load_contracts(estate: Estate) -> list[Finding]:
    """Load each contract file once (several objects may share one) into ``estate.contracts``."""
    out: list[Finding] = []
    for item in estate:
        obj = item.obj
        if isinstance(obj, Api):
            out.extend(_contract(estate, item, obj.spec.contract, ("spec", "contract"), "openapi"))
        elif isinstance(obj, Event):
            for i, version in enumerate(obj.spec.schemas):
                out.extend(
                    _contract(
                        estate, item, version.file, ("spec", "schemas", i, "file"), "jsonschema"
                    )
                )
    return out


def _contract(
    estate: Estate, item: Loaded, relative: str, at: tuple[str | int, ...], kind: str
) -> list[Finding]:
    path = item.resolve_file(relative)
    if path in estate.contracts:
        return []
    contract, problems = load_contract(path, kind, estate.other_documents.get(path))
    if contract is not None:
        estate.contracts[path] = contract
    located = []
    for problem in problems:
        if problem.location is None:  # the file itself is missing: point at the reference
            located.append(replace(problem, location=item.location(at), subject=item.key))
        else:
            located.append(problem)
    return located
