"""Stored chat channels: one unit per message with its jump link, long messages split, other JSONL refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retrieval import DocumentError, Index, describe_formats, format_for, ingest
from retrieval.ingest.parsers.channel import MAX_MESSAGE_CHARS
from retrieval.ingest.uploads import check_upload

from .conftest import assert_exact, assert_nested_or_disjoint

HEADER = {"format": "citebot.channel", "version": 1, "guild_id": "1", "channel_id": "2", "name": "ops"}
LONG = " ".join(f"Step {n} of the runbook restarts worker number {n} and waits for it." for n in range(20))


def link(n: int) -> str:
    return f"https://discord.com/channels/1/2/{n}"


def channel_file(*messages: dict[str, Any], header: dict[str, Any] | None = None) -> bytes:
    lines = [header or HEADER, *messages]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def parse(data: bytes) -> Any:
    fmt = format_for("2.jsonl")
    assert fmt is not None
    return fmt.parse(data, "2.jsonl")


def test_each_message_is_one_unit_linked_to_it() -> None:
    """A short message is one unit, its section the channel (and thread), its url the message's link."""
    doc = parse(
        channel_file(
            {"id": "10", "url": link(10), "author": "ann", "content": "Deploys freeze on Friday. Ask Bob."},
            {"id": "11", "url": link(11), "author": "bob", "content": ""},  # an image alone
            {"id": "12", "url": link(12), "author": "cy", "thread": "incident 42", "content": "Rolled back."},
        )
    )
    assert_exact(doc)
    assert doc.title == "#ops"
    got = [(u.text, u.section, u.url, u.kind) for u in doc.units]
    assert got == [
        ("Deploys freeze on Friday. Ask Bob.", ("#ops",), link(10), "sentence"),
        ("Rolled back.", ("#ops", "incident 42"), link(12), "sentence"),
    ]


def test_a_long_message_is_split_like_prose_and_every_piece_links_to_it() -> None:
    """A message over MAX_MESSAGE_CHARS becomes its sentences, each with the message's link."""
    assert len(LONG) > MAX_MESSAGE_CHARS
    doc = parse(
        channel_file(
            {"id": "20", "url": link(20), "content": "Short one first."},
            {"id": "21", "url": link(21), "content": LONG},
        )
    )
    assert_exact(doc)
    assert_nested_or_disjoint(doc.units)
    pieces = [u for u in doc.units if u.url == link(21)]
    assert len(pieces) == 20 and all(len(u.text) < MAX_MESSAGE_CHARS for u in pieces)
    assert pieces[0].text == "Step 0 of the runbook restarts worker number 0 and waits for it."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"id": 1, "content": "no header"}\n', "not a channel stored by citebot"),
        (channel_file({"id": "1"}, header={"format": "other"}), "not a channel stored by citebot"),
        (channel_file() + b"not json\n", "line 2 is not JSON"),
        (channel_file() + b"[1, 2]\n", "line 2 is not a JSON object"),
    ],
)
def test_other_json_lines_files_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    """A .jsonl that citebot did not write is a DocumentError naming the problem, not a traceback."""
    with pytest.raises(DocumentError, match=reason):
        parse(data)


def test_a_stored_channel_is_never_an_upload_nor_a_listed_format() -> None:
    """Channel files are citebot's own: uploads named .jsonl are refused, and messages don't offer them."""
    assert ".jsonl" not in describe_formats()
    with pytest.raises(DocumentError, match="is not a document I can read"):
        check_upload("log.jsonl", channel_file(), 10**6)


def test_ingest_indexes_a_channel_file_with_unit_links(fake_index: Index, tmp_path: Path) -> None:
    """Ingested under a display name, the channel's units keep their message links in the catalog."""
    path = tmp_path / "2.jsonl"
    path.write_bytes(
        channel_file({"id": "30", "url": link(30), "content": "The VPN config moved to the wiki."})
    )
    report = ingest(fake_index, [path], scope="1", display_names={path: "#ops"})
    assert report.added == ["#ops"] and report.sentences_embedded == 1
    (row,) = fake_index.catalog.documents(scope="1")
    assert (row.source, row.title) == ("#ops", "#ops")
    unit = fake_index.catalog.sentences_by_key([(row.doc_key, 0)])[(row.doc_key, 0)]
    assert (unit.text, unit.url) == ("The VPN config moved to the wiki.", link(30))
