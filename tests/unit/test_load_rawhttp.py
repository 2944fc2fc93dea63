"""The raw client's chunked-transfer decoder (loadtests.rawhttp), fed byte by byte and in bulk."""

from __future__ import annotations

import pytest

from loadtests.rawhttp import ChunkedDecoder

pytestmark = [pytest.mark.unit]

BODY = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"


def test_whole_message() -> None:
    d = ChunkedDecoder()
    assert d.feed(BODY) == b"hello, world"
    assert d.complete


def test_byte_by_byte_gives_bytes_as_soon_as_they_arrive() -> None:
    d = ChunkedDecoder()
    out = []
    for i in range(len(BODY)):
        out.append(d.feed(BODY[i : i + 1]))
    assert b"".join(out) == b"hello, world"
    assert out[3] == b"h"  # the first body byte comes out with the byte that carried it
    assert d.complete


def test_not_complete_until_the_last_chunk() -> None:
    d = ChunkedDecoder()
    assert d.feed(b"5\r\nhello\r\n") == b"hello"
    assert not d.complete


def test_missing_crlf_is_an_error() -> None:
    with pytest.raises(ValueError, match="chunked encoding: missing CRLF after a chunk"):
        ChunkedDecoder().feed(b"2\r\nhiXX0\r\n\r\n")
