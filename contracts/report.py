"""Presenting suite results: the readable list, the JSON document, the JUnit XML file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from contracts.suite.runner import SuiteReport
from generator.atomicfile import write_atomic

__all__ = ["as_json", "as_text", "write_junit"]


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
        ]
    return lines


def as_text(reports: list[SuiteReport]) -> str:
    lines: list[str] = []
    for report in reports:
        found = report.violations
        head = f"{report.target.label} (model {report.model}): {len(report.outcomes)} checks"
        if not found:
            known = len(report.known_deviations)
            lines.append(f"{head}, compliant" + (f" but for {known} known deviation(s)" if known else ""))
            lines += _known_lines(report)
            continue
        rules = sorted({v.rule for v in found})
        lines.append(f"{head}, {len(found)} violation(s) of {len(rules)} rule(s): {', '.join(rules)}")
        for violation in found:
            lines += [
                f"  {violation.endpoint}",
                f"    rule:     {violation.rule}",
                f"    expected: {violation.expected}",
                f"    got:      {violation.actual}",
            ]
        lines += _known_lines(report)
    return "\n".join(lines)


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
                "violations": [v.to_dict() for v in r.violations],
                "known_deviations": [k.to_dict() for k in r.known_deviations],
            }
            for r in reports
        ],
    }


def junit_tree(reports: list[SuiteReport]) -> ET.ElementTree[ET.Element]:
    root = ET.Element("testsuites", name="aibackend contract")
    for report in reports:
        failed = sum(1 for o in report.outcomes if o.violations)
        suite = ET.SubElement(
            root, "testsuite", name=report.target.label, tests=str(len(report.outcomes)), failures=str(failed), errors="0"
        )
        for outcome in report.outcomes:
            case = ET.SubElement(suite, "testcase", classname=f"contract.{report.target.type}", name=outcome.check)
            if outcome.known:
                # Recorded deviations of the real server: visible to CI, not failures.
                properties = ET.SubElement(case, "properties")
                for known in outcome.known:
                    ET.SubElement(properties, "property", name="known-deviation", value=f"{known.violation} ({known.server}: {known.why})")
            if outcome.violations:
                rules = sorted({v.rule for v in outcome.violations})
                failure = ET.SubElement(case, "failure", message=f"violated: {', '.join(rules)}", type="ContractViolation")
                failure.text = "\n".join(str(v) for v in outcome.violations)
    return ET.ElementTree(root)


def write_junit(reports: list[SuiteReport], path: Path) -> None:
    # Renamed into place: never a half-written file.
    root = junit_tree(reports).getroot()
    assert root is not None
    write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True), make_parents=True)
