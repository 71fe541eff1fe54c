"""Parsers that fail the ways real ones do on hostile files, for the isolation tests.

Each has the registry's parser signature (bytes and a name in, a ``ParsedDocument`` out) and is named by
a ``"module:function"`` path, so the parse worker imports it as it would a real parser.
"""

from __future__ import annotations

import logging
import os
import time

from retrieval.ingest.parsers.plain import parse_plain
from retrieval.ingest.parsers.units import ParsedDocument

log = logging.getLogger(__name__)


class DependencyError(Exception):
    """Named like pypdf's: a library's own exception type that no caller lists."""


def jbig2(data: bytes, name: str) -> ParsedDocument:
    raise DependencyError("jbig2dec binary is not available.")


def key_error(data: bytes, name: str) -> ParsedDocument:
    raise KeyError("/Root")


def nested(data: bytes, name: str) -> ParsedDocument:
    def down(depth: int) -> int:
        return down(depth + 1) + 1

    down(0)
    raise AssertionError("unreachable")


def loops(data: bytes, name: str) -> ParsedDocument:
    while True:
        time.sleep(0.01)


def bomb(data: bytes, name: str) -> ParsedDocument:
    blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GB, over any limit the tests set
    raise AssertionError(f"allocated {len(blocks)} blocks")


def crashes(data: bytes, name: str) -> ParsedDocument:
    os.abort()


def interrupted(data: bytes, name: str) -> ParsedDocument:
    raise KeyboardInterrupt


def chatty(data: bytes, name: str) -> ParsedDocument:
    log.warning("%s: read with a warning from the worker", name)
    return parse_plain(data.decode())


def pid(data: bytes, name: str) -> ParsedDocument:
    return parse_plain(f"Parsed in process {os.getpid()}.")
