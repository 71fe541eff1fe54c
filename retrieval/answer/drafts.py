"""Read what a language model wrote into a draft: sentences, each with the numbers it cites.

Models answer in one of two shapes: JSON that follows ``DRAFT_SCHEMA`` (when the provider constrains
output to a schema) or prose with ``[n]`` markers. Small models bend both, so parsing is tolerant: JSON
is looked for inside code fences and stray text, unknown keys are mapped, and prose is split into
sentences with markers that follow a full stop given to the sentence before. Nothing here decides
whether a citation is valid; ``citecheck`` does.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

#: The JSON shape asked for by schema-constrained providers; flat, so every grammar converter takes it.
DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {  # sentences first: a model decides "answerable" after writing, not before
        "sentences": {
            "type": "array",
            "minItems": 1,  # an empty list is too easy a way out for a small model
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "citations": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["text", "citations"],
            },
        },
        "answerable": {"type": "boolean"},
    },
    "required": ["sentences", "answerable"],
}

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_LEADING_MARKERS = re.compile(r"^((?:\s*\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\])+)\s*")
# What a model that says the documents don't answer replies: the prompts ask for "NOT IN DOCUMENTS".
_NOT_ANSWERED = re.compile(r"\bnot\s+in\s+(?:the\s+)?documents\b", re.IGNORECASE)
_REFUSING = re.compile(
    r"\bnot\s+in\s+(?:the\s+)?documents\b|\b(?:documents?|sentences?|text|context|passages?)\s+"
    r"(?:do(?:es)?\s+not|don't|doesn't|never)\s+(?:say|answer|mention|contain|provide|state|tell)\b|"
    r"\b(?:cannot|can't|unable to)\s+(?:be\s+)?answer|\bno\s+information\b",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^\s*(?:answer|response)\s*:\s*", re.IGNORECASE)


class DraftSentence(BaseModel):
    """One sentence of the model's answer and the sentence numbers it says support it."""

    text: str
    citations: list[int] = Field(default_factory=list)


class Draft(BaseModel):
    """The model's answer before any citation is checked."""

    answerable: bool = True
    sentences: list[DraftSentence] = Field(default_factory=list)


def sounds_like_refusal(text: str) -> bool:
    """True when a sentence says the documents don't answer ("The text does not mention ...")."""
    return bool(_REFUSING.search(text))


def marker_numbers(text: str) -> list[int]:
    """Every number inside ``[n]`` / ``[n, m]`` markers, in order of appearance."""
    return [int(n) for m in _MARKER.finditer(text) for n in re.findall(r"\d+", m.group(1))]


def strip_markers(text: str) -> str:
    """The sentence without its markers, spaces tidied (``"Paris [1]."`` becomes ``"Paris."``).

    A quote mark left unbalanced at either end (from copying a quoted sentence) goes too.
    """
    text = _MARKER.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = " ".join(text.split())
    if text.count('"') % 2 == 1:
        text = text[1:] if text.startswith('"') else text[:-1] if text.endswith('"') else text
    return text.strip()


def parse_marked_text(text: str) -> Draft:
    """Split prose with ``[n]`` markers into cited sentences; the refusal phrase makes it unanswerable.

    Markers usually follow what they support ("It rains [2]."), but small models also write lists
    whose lines start with the number ("[2] It rains."); there the marker labels its own line.
    """
    text = _PREFIX.sub("", text.strip())
    if _NOT_ANSWERED.search(text) and not marker_numbers(text):
        return Draft(answerable=False)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and _LEADING_MARKERS.match(lines[0]):
        sentences: list[DraftSentence] = []
        for line in lines:
            if _LEADING_MARKERS.match(line):
                sentences.append(DraftSentence(text=line, citations=marker_numbers(line)))
            else:
                sentences += _prose(line)
        return Draft(sentences=sentences)
    return Draft(sentences=_prose(text))


def _prose(text: str) -> list[DraftSentence]:
    """Sentences of running text, each with the markers that follow it."""
    pieces: list[str] = []
    for raw in _SENTENCE_END.split(text):
        lead = _LEADING_MARKERS.match(raw)
        if lead and pieces:  # "It rains. [2] Then ..." – the [2] belongs to "It rains."
            pieces[-1] += " " + lead.group(1).strip()
            raw = raw[lead.end() :]
        if raw.strip():
            pieces.append(raw.strip())
    return [DraftSentence(text=p, citations=marker_numbers(p)) for p in pieces]


def _from_json(data: Any) -> Draft | None:
    """Map parsed JSON onto a draft, accepting the near-misses small models produce."""
    if isinstance(data, list):
        data = {"sentences": data}
    if not isinstance(data, dict):
        return None
    flag = data.get("answerable", True)
    answerable = flag if isinstance(flag, bool) else str(flag).lower() not in ("false", "no")
    items = data.get("sentences")
    if items is None:
        for key in ("answer", "text", "response"):
            if isinstance(data.get(key), str):
                draft = parse_marked_text(data[key])
                return draft if answerable else Draft(answerable=False)
        return Draft(answerable=answerable) if not answerable else None
    sentences: list[DraftSentence] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            sentences.append(DraftSentence(text=item, citations=marker_numbers(item)))
            continue
        if not isinstance(item, dict):
            continue
        text = str(item.get("text") or item.get("sentence") or "")
        raw = item.get("citations", item.get("cites", []))
        raw = raw if isinstance(raw, list) else [raw]
        nums = [int(n) for n in raw if isinstance(n, int | str) and str(n).strip().isdigit()]
        sentences.append(DraftSentence(text=text, citations=nums + marker_numbers(text)))
    return Draft(answerable=answerable, sentences=sentences)


def _json_candidates(text: str) -> list[str]:
    fenced = re.findall(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    start, end = text.find("{"), text.rfind("}")
    whole = [text[start : end + 1]] if 0 <= start < end else []
    return [*fenced, *whole]


def parse_draft(output: str | dict[str, Any]) -> Draft:
    """Read a model's output (JSON text, a parsed tool call, or prose with markers) into a ``Draft``."""
    if isinstance(output, dict):
        return _from_json(output) or Draft(answerable=True)
    for candidate in _json_candidates(output):
        try:
            draft = _from_json(json.loads(candidate))
        except (ValueError, TypeError):
            continue
        if draft is not None:
            return draft
    salvaged = _salvage_json(output)
    return salvaged if salvaged is not None else parse_marked_text(output)


_TEXT_FIELD = re.compile(r'"text"\s*:\s*"((?:[^"\\]|\\.)*)"(?:\s*,\s*"citations"\s*:\s*\[([^\]]*)\])?')


def _salvage_json(output: str) -> Draft | None:
    """Broken JSON (cut off, or a missing value): keep the ``"text"`` fields and their citations."""
    found = _TEXT_FIELD.findall(output)
    if not found:
        return None
    sentences = []
    for raw, cites in found:
        try:
            text = json.loads(f'"{raw}"')
        except ValueError:
            text = raw
        nums = [int(n) for n in re.findall(r"\d+", cites)]
        sentences.append(DraftSentence(text=text, citations=nums + marker_numbers(text)))
    return Draft(sentences=sentences)
