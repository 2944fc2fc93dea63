"""`gateway status` says in words what HAProxy's status of a replica means, as HAProxy's stats code
defines it (src/stats.c srv_hlt_st: 'UP a/b' going down, a = checks it may still fail of `fall`;
'DOWN a/b' going up, a = checks passed of `rise`); the JSON keeps HAProxy's own spelling."""

from __future__ import annotations

import pytest

from aibackend.gateway.front import plain_status

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize(("status", "words"), [
    ("UP", "UP"),
    ("DOWN", "DOWN"),
    ("MAINT", "MAINT"),
    ("no check", "no check"),
    ("UP 2/3", "UP, 1 check failed, DOWN after 2 more failed (UP 2/3)"),
    ("UP 1/3", "UP, 2 checks failed in a row, DOWN after 1 more failed (UP 1/3)"),
    ("DRAIN 1/3", "DRAIN, 2 checks failed in a row, DOWN after 1 more failed (DRAIN 1/3)"),
    ("DOWN 1/2", "DOWN, 1 of 2 checks passed, UP after 1 more (DOWN 1/2)"),
])
def test_haproxy_states_read_plainly(status: str, words: str) -> None:
    assert plain_status(status) == words
