"""A chat channel's stored messages (JSON Lines the Discord bot writes) into one unit per message.

The bot keeps each channel it indexes as ``<index_dir>/channels/<guild>/<channel>.jsonl``: a header line
``{"format": "citebot.channel", "name": ..., ...}``, then one line per message ``{"id", "url", "author",
"thread", "content", ...}`` in the order they were posted. The extracted text is the messages' contents,
one block each, so every unit's offsets point into it as for HTML. A message up to ``MAX_MESSAGE_CHARS``
is one unit (a chat message is read whole, as a list item is); a longer one is split like prose. Each
unit's section is the channel (and the thread) and its ``url`` the message's jump link, so a citation
leads back to the message itself.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
from typing import Any

from ...errors import DocumentError
from ..loaders import read_text
from .units import ParsedDocument, Unit
from .writer import TextWriter

log = logging.getLogger(__name__)

#: The header's ``format``: what tells a stored channel from any other JSON Lines file.
CHANNEL_FORMAT = "citebot.channel"
#: A message up to this long is one unit; a longer one is split into sentences (as a long list item is).
MAX_MESSAGE_CHARS = 600


def _record(line: str, number: int, name: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{name}: line {number} is not JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise DocumentError(f"{name}: line {number} is not a JSON object")
    return record


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value.strip() else None


def parse_channel(data: bytes, name: str) -> ParsedDocument:
    """Parse a stored channel: one block per message, each unit carrying its message's jump link.

    Raises:
        DocumentError: not a stored channel (no citebot header), or a line that is not a JSON object.
    """
    lines = [(n, line) for n, line in enumerate(read_text(data, name).split("\n"), 1) if line.strip()]
    if not lines:
        raise DocumentError(f"{name}: empty")
    header = _record(lines[0][1], lines[0][0], name)
    if header.get("format") != CHANNEL_FORMAT:
        raise DocumentError(f"{name} is not a channel stored by citebot (its first line has no header)")
    channel = "#" + (_text(header, "name") or "channel").strip().lstrip("#")
    writer = TextWriter()
    starts: list[int] = []
    urls: list[str | None] = []
    for number, line in lines[1:]:
        record = _record(line, number, name)
        content = _text(record, "content")
        if content is None:  # an attachment or an embed alone: nothing to cite
            continue
        thread = _text(record, "thread")
        writer.section = (channel, thread) if thread else (channel,)
        starts.append(writer.length + (2 if writer.parts else 0))
        urls.append(_text(record, "url"))
        writer.write(content, "sentence" if len(content.strip()) <= MAX_MESSAGE_CHARS else None)
    units = [_with_url(u, starts, urls) for u in writer.units()]
    log.debug("%s: %d messages, %d units", name, len(starts), len(units))
    return ParsedDocument(writer.text(), channel, units)


def _with_url(unit: Unit, starts: list[int], urls: list[str | None]) -> Unit:
    """The unit with the jump link of the message it lies in."""
    message = bisect.bisect_right(starts, unit.start) - 1
    return dataclasses.replace(unit, url=urls[message]) if message >= 0 else unit
