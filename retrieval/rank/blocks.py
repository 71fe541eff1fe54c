"""The block around a unit: a list with its lead-in, or the steps of a how-to with their commands.

An answer shaped like its evidence cites a whole list or a whole series of steps, so the answer policy
needs the units that share the best unit's block (``Unit.block``: one list, table or code block). A
list's lead-in sentence ends the paragraph before the list, in the block before it; it is recognised
as the sentence whose text is the items' ``context``. Units of a block are consecutive in the catalog
(ingestion stores units in document order): the catalog's ``block_units`` reads them in one lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from ..index.catalog import Catalog, SentenceRow

log = logging.getLogger(__name__)

#: Kinds that belong to a list, a series of steps or a code block (what shaping cites).
STRUCTURED = frozenset({"list_item", "step", "code", "table_row"})
#: Question shapes (cues.question_shapes) whose answer may be the block of a candidate below the best.
SHAPED_BY_RUNNER_UPS = frozenset({"set", "how_to"})


class UnitLike(Protocol):
    """What block detection and the answer policy read of a unit (a catalog row or an ``Evidence``)."""

    @property
    def doc_key(self) -> str: ...  # noqa: D102 - fields
    @property
    def idx(self) -> int: ...  # noqa: D102 - fields
    @property
    def kind(self) -> str: ...  # noqa: D102 - fields
    @property
    def text(self) -> str: ...  # noqa: D102 - fields
    @property
    def start(self) -> int: ...  # noqa: D102 - fields
    @property
    def end(self) -> int: ...  # noqa: D102 - fields
    @property
    def context(self) -> str | None: ...  # noqa: D102 - fields
    @property
    def block(self) -> int: ...  # noqa: D102 - fields


U = TypeVar("U", bound=UnitLike)


@dataclass(frozen=True)
class Block(Generic[U]):
    """The units of one block in document order, and the list's lead-in when it has one."""

    lead_in: U | None
    units: list[U]


def is_lead_in(unit: UnitLike, following: UnitLike | None) -> bool:
    """True when ``unit`` is the sentence that introduces the list starting right after it."""
    return (
        following is not None
        and unit.kind == "sentence"
        and following.kind in STRUCTURED
        and following.context == unit.text
    )


def needs_block(unit: UnitLike, following: UnitLike | None) -> bool:
    """True when ``unit`` sits in (or introduces) a structured block worth reading."""
    return unit.kind in STRUCTURED or unit.context is not None or is_lead_in(unit, following)


def block_of(rows: Mapping[int, U], idx: int) -> Block[U] | None:
    """The block of the unit at ``idx`` among ``rows`` (one document's rows by position), or None.

    Pure: ``rows`` must hold the whole block (``read_block`` reads it). For a lead-in, the block is the
    list after it.
    """
    unit = rows.get(idx)
    if unit is None:
        return None
    after = rows.get(idx + 1)
    first = idx + 1 if is_lead_in(unit, after) else idx
    anchor = rows[first]
    # A block's units are consecutive, but for a numbered list that goes on after a break (a heading, a
    # table): those share the block number across the gap.
    units = [
        rows[i] for i in sorted(rows) if rows[i].block == anchor.block and rows[i].doc_key == anchor.doc_key
    ]
    lo = units[0].idx
    before = rows.get(lo - 1)
    head = units[0]
    lead = before if before is not None and is_lead_in(before, head) else None
    return Block(lead, units)


def read_block(catalog: Catalog, doc_key: str, idx: int) -> dict[int, SentenceRow]:
    """One document's rows that ``block_of(rows, idx)`` needs: the unit's block, the unit, the row before.

    Vectors are dropped: the block is cited, not scored.
    """
    near = {i: row for (_, i), row in catalog.sentences_by_key([(doc_key, idx), (doc_key, idx + 1)]).items()}
    unit = near.get(idx)
    if unit is None:
        return {}
    after = near.get(idx + 1)
    target = after.block if after is not None and is_lead_in(unit, after) else unit.block
    rows = {r.idx: r for r in catalog.block_units(doc_key, target)}
    rows[idx] = unit
    first = min(rows)
    rows.update({i: r for (_, i), r in catalog.sentences_by_key([(doc_key, first - 1)]).items()})
    return {i: replace(r, vector=None) for i, r in rows.items()}
