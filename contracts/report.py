"""Presenting suite results: the readable list, the JSON document, the JUnit XML file.

Every violation (and warning) is shown with the exchange behind it (request, status, the relevant
part of the answer) and where its rule comes from for the target's type (contracts/provenance/).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from contracts.provenance import rule_provenance
from contracts.suite.runner import SuiteReport
from contracts.upstream.sources import CITATIONS
from contracts.violation import Violation
from generator.atomicfile import write_atomic

__all__ = ["as_json", "as_text", "rule_sources", "write_junit"]


def rule_sources(provider_type: str, rule: str) -> list[dict[str, str]]:
    """Where ``rule`` comes from for ``provider_type``: each citation's id, reference and words."""
    entry = rule_provenance(provider_type, rule)
    if entry is None:
        return []
    return [{"id": cid, "where": CITATIONS[cid].where(), "says": CITATIONS[cid].says} for cid in entry.cites]


def _finding_lines(provider_type: str, violation: Violation, label: str) -> list[str]:
    lines = [
        f"  {violation.endpoint}",
        f"    rule:     {label}",
        f"    expected: {violation.expected}",
        f"    got:      {violation.actual}",
    ]
    if violation.exchange is not None:
        lines += [f"    {line}" for line in violation.exchange.lines()]
    sources = rule_sources(provider_type, violation.rule)
    if sources:
        lines.append(f"    source:   {sources[0]['where']}: {sources[0]['says']}")
        lines += [f"              {s['where']}: {s['says']}" for s in sources[1:]]
    return lines


def _known_lines(report: SuiteReport) -> list[str]:
    known = report.known_deviations
    if not known:
        return []
    lines = [f"  {len(known)} known deviation(s) of the real server, recorded in the {report.target.type} spec (not failures):"]
    for deviation in known:
        violation = deviation.violation
        lines += [
            f"  {violation.endpoint}",
            f"    rule:     {violation.rule} (known deviation of {deviation.server})",
            f"    expected: {violation.expected}",
            f"    got:      {violation.actual}",
            f"    why:      {deviation.why}",
            f"    evidence: {deviation.evidence}",
        ]
    return lines


def _warning_lines(report: SuiteReport) -> list[str]:
    warnings = report.warnings
    if not warnings:
        return []
    lines = [f"  {len(warnings)} warning(s) (advisory rules and accepted invalid requests: never failures):"]
    for warning in warnings:
        entry = rule_provenance(report.target.type, warning.rule)
        why = f"advisory: {entry.advisory}" if entry is not None and entry.advisory else "warning"
        lines += _finding_lines(report.target.type, warning, f"{warning.rule} ({why})")
    return lines


def as_text(reports: list[SuiteReport]) -> str:
    lines: list[str] = []
    for report in reports:
        found = report.violations
        head = f"{report.target.label} (model {report.model}): {len(report.outcomes)} checks"
        if not found:
            known = len(report.known_deviations)
            lines.append(f"{head}, compliant" + (f" but for {known} known deviation(s)" if known else ""))
        else:
            rules = sorted({v.rule for v in found})
            lines.append(f"{head}, {len(found)} violation(s) of {len(rules)} rule(s): {', '.join(rules)}")
            for violation in found:
                lines += _finding_lines(report.target.type, violation, violation.rule)
        lines += _known_lines(report)
        lines += _warning_lines(report)
    return "\n".join(lines)


def _finding(provider_type: str, violation: Violation) -> dict[str, Any]:
    return {**violation.to_dict(), "sources": rule_sources(provider_type, violation.rule)}


def as_json(reports: list[SuiteReport]) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in reports),
        "targets": [
            {
                "target": r.target.label,
                "type": r.target.type,
                "url": r.target.url,
                "model": r.model,
                "ok": r.ok,
                "checks": [{"name": o.check, "ok": not o.violations} for o in r.outcomes],
                "violations": [_finding(r.target.type, v) for v in r.violations],
                "known_deviations": [k.to_dict() for k in r.known_deviations],
                "warnings": [_finding(r.target.type, w) for w in r.warnings],
            }
            for r in reports
        ],
    }


def _junit_text(provider_type: str, violation: Violation) -> str:
    return "\n".join(line.strip() for line in [str(violation), *_finding_lines(provider_type, violation, violation.rule)[4:]])


def junit_tree(reports: list[SuiteReport]) -> ET.ElementTree[ET.Element]:
    root = ET.Element("testsuites", name="aibackend contract")
    for report in reports:
        failed = sum(1 for o in report.outcomes if o.violations)
        suite = ET.SubElement(
            root, "testsuite", name=report.target.label, tests=str(len(report.outcomes)), failures=str(failed), errors="0"
        )
        for outcome in report.outcomes:
            case = ET.SubElement(suite, "testcase", classname=f"contract.{report.target.type}", name=outcome.check)
            if outcome.known or outcome.warnings:
                # Recorded deviations of the real server and warnings: visible to CI, not failures.
                properties = ET.SubElement(case, "properties")
                for known in outcome.known:
                    ET.SubElement(properties, "property", name="known-deviation", value=f"{known.violation} ({known.server}: {known.why})")
                for warning in outcome.warnings:
                    ET.SubElement(properties, "property", name="warning", value=_junit_text(report.target.type, warning))
            if outcome.violations:
                rules = sorted({v.rule for v in outcome.violations})
                failure = ET.SubElement(case, "failure", message=f"violated: {', '.join(rules)}", type="ContractViolation")
                failure.text = "\n\n".join(_junit_text(report.target.type, v) for v in outcome.violations)
    return ET.ElementTree(root)


def write_junit(reports: list[SuiteReport], path: Path) -> None:
    # Renamed into place: never a half-written file.
    root = junit_tree(reports).getroot()
    assert root is not None
    write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True), make_parents=True)
