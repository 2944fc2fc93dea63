"""Known deviations: what a real server does that its contract forbids, recorded in its spec.

Each record (an entry of a spec's ``x-known-deviations``, kept in the type's module as
``KNOWN_DEVIATIONS``) names ONE violation exactly (check, rule, endpoint, and ``case`` = the
violation's ``expected`` text) and the ONE observed behaviour that is excused (``match``): a status
with a body matching a named schema of the spec, a status with an exact text body, an exact
``actual``, or one of an enumerated few exact ``actual_in`` (a deviation whose size the server's
source bounds: each possible text is listed, none is a pattern). The suite reports such a violation as a known deviation instead of a failure
(``contracts/suite/deviations.py``); the same rule broken any other way still fails. ``server``,
``evidence`` and ``why`` say who does it and how we know.

This module holds what records of several types share: the shape of a fuzz finding's record.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import Schema

__all__ = ["FUZZ_INVALID_CASE", "FUZZ_PATHS", "fuzz_500"]

# Fuzzing (contracts/fuzz.py) meets the same rejections with generated bodies. Its findings name the
# check `fuzz METHOD PATH (mode)` and, without the generated request, the case below; the rule is the
# kind of invalid request (a body that is no JSON object: malformed-body; a missing or ill-typed
# model/messages/prompt: missing-field; anything else: invalid-param). A fuzz record also names the
# exact class of request it excuses (`request_class`, contracts/fuzz.py: request_classes) and the
# recorded exchange that shows it, which the engine tests replay one by one.
FUZZ_INVALID_CASE = "no 5xx for an invalid request"
FUZZ_PATHS = ("/v1/chat/completions", "/v1/completions")


def fuzz_500(path: str, rule: str, request_class: str, match: Schema, server: str, exchange: str, why: str) -> Schema:
    """The record of a 500 that fuzzing got for an invalid request of ``request_class`` to ``POST path``."""
    return {
        "check": f"fuzz POST {path} (negative)",
        "rule": rule,
        "endpoint": f"POST {path}",
        "case": FUZZ_INVALID_CASE,
        "request_class": request_class,
        "match": match,
        "server": server,
        "exchange": exchange,
        "evidence": f"fixtures/exchanges/{exchange}",
        "why": why,
    }
