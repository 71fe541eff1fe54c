"""Build extracted text block by block (HTML, PDF, DOCX) and turn the planned blocks into units.

Formats without a text source of their own get one written here: one block per paragraph, list item,
table row or code block, separated by blank lines (rows and items of one list or table by single
newlines). Units are cut only once the text is complete, so their offsets point into it.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from dataclasses import dataclass, field

from .units import Unit, UnitCollector, UnitKind

log = logging.getLogger(__name__)

MAX_ITEM_CHARS = 600
MAX_CODE_LINES = 80


@dataclass(frozen=True, slots=True)
class _Planned:
    kind: UnitKind | None  # None: prose to split into sentences
    start: int
    end: int
    section: tuple[str, ...]
    block: int
    context: str | None


@dataclass
class TextWriter:
    """Accumulates extracted text and remembers where each block is and what it should become."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    planned: list[_Planned] = field(default_factory=list)
    section: tuple[str, ...] = ()
    block: int = -1
    page_starts: list[int] = field(default_factory=list)
    _top: int = -1  # the highest block number given out

    def write(
        self, text: str, kind: UnitKind | None, context: str | None = None, *, new_block: bool = True
    ) -> None:
        """Append ``text`` as a block (or as the next line of the current one) that becomes ``kind``."""
        if new_block or self.block < 0:
            self._top += 1
            self.block = self._top
        sep = ("\n\n" if new_block else "\n") if self.parts else ""
        self.parts.append(sep + text)
        start = self.length + len(sep)
        self.length = start + len(text)
        self.planned.append(_Planned(kind, start, self.length, self.section, self.block, context))

    def resume(self, block: int) -> None:
        """Write the next lines into an earlier block: a numbered list going on after a break.

        "1. Clone", "2. Configure", a table, then a list starting at 3: one series of steps, so one block
        (block reads go by number, so its units need not be consecutive).
        """
        self.block = block

    def start_page(self, at: int | None = None) -> None:
        """Mark that what is written next (or the text from offset ``at`` on) belongs to the next page."""
        self.page_starts.append(self.length if at is None else at)

    def text(self) -> str:
        """The extracted text so far."""
        return "".join(self.parts)

    def units(self) -> list[Unit]:
        """Cut the planned blocks into units with offsets into ``text()``."""
        out = UnitCollector(self.text())
        lead: str | None = None  # the last sentence of the paragraph right before, for a code block
        for plan in self.planned:
            out.section = plan.section
            out._block = plan.block
            if plan.kind is None:
                added = out.add_sentences(plan.start, plan.end)
                lead = added[-1].text if added else None
                continue
            if plan.kind == "code":
                # A heading between them means the paragraph introduces its own section, not the code.
                same_section = bool(out.units) and out.units[-1].section == plan.section
                # A step's command is introduced by its step (the context it was written with).
                out.add_code(
                    plan.start, plan.end, MAX_CODE_LINES, plan.context or (lead if same_section else None)
                )
            elif plan.kind in ("list_item", "step"):
                out.add_item(plan.kind, plan.start, plan.end, plan.context, MAX_ITEM_CHARS)
            else:
                out.add(plan.kind, plan.start, plan.end, plan.context)
            lead = None
        if not self.page_starts:
            return out.units
        return [
            dataclasses.replace(u, page=bisect.bisect_right(self.page_starts, u.start) or 1)
            for u in out.units
        ]
