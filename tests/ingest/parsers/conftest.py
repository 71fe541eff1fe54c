from __future__ import annotations

from retrieval.ingest.parsers import ParsedDocument, Unit


def assert_exact(doc: ParsedDocument) -> None:
    """Every unit is an exact, non-empty slice of the document's text."""
    for u in doc.units:
        assert 0 <= u.start < u.end <= len(doc.text)
        assert doc.text[u.start : u.end] == u.text


def assert_nested_or_disjoint(units: list[Unit]) -> None:
    """No two units straddle each other: they are disjoint, or one (a line, a sentence) nests in the other."""
    for i, a in enumerate(units):
        for b in units[i + 1 :]:
            disjoint = a.end <= b.start or b.end <= a.start
            nested = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
            assert disjoint or nested, (a, b)


def rows(doc: ParsedDocument) -> list[tuple[str, str]]:
    return [(u.kind, u.text) for u in doc.units]
