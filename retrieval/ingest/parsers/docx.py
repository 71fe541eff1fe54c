"""Word documents (.docx) into citable units, with python-docx.

Heading styles ("Heading 1", "Title") give the section path, list styles and numbered paragraphs give
list items (ordered ones under a how-to heading are steps: a list is ordered when its style says
"Number" or its numbering definition counts in digits or letters rather than bullets), code styles
("Source Code", "HTML Preformatted", "Code") give code blocks with their line breaks, tables give rows
with the first row as their header. A .docx is a zip archive: it is checked before python-docx opens
it, so a file that is not a zip, or that would inflate past ``MAX_UNZIPPED_BYTES`` (a zip bomb), is
refused cleanly.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import DocumentError
from .units import MONOSPACE_FONT, ParsedDocument, Series, UnitKind, is_how_to, lead_in_of
from .writer import TextWriter

if TYPE_CHECKING:
    from docx.document import Document
    from docx.text.paragraph import Paragraph

log = logging.getLogger(__name__)

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 10_000
_HEADING = re.compile(r"^(heading|title)\s*(\d*)$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"list", re.IGNORECASE)
_NUMBER_STYLE = re.compile(r"number", re.IGNORECASE)
_CODE_STYLE = re.compile(r"code|verbatim|preformat|plain text|macro text", re.IGNORECASE)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@dataclass
class _Numbering:
    """The document's list numbering: which lists count (and from where), and the lists seen so far.

    Word keeps a numbered list going across a heading or table when its items share a numbering id;
    a list converted from elsewhere may instead restart its numbering at the next number (``start``).
    Either way the steps are one series, so the parser writes them into one block.
    """

    formats: dict[tuple[str, str], str] = field(default_factory=dict)
    starts: dict[tuple[str, str], int] = field(default_factory=dict)
    # numbering id -> (block, kind, lead-in, next number) of the ordered list that used it last
    series: dict[str, Series] = field(default_factory=dict)
    last: str | None = None  # the numbering id of the last ordered list

    @classmethod
    def of(cls, document: Document) -> _Numbering:
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return cls()
        abstract: dict[str, dict[str, tuple[str, int]]] = {}
        for node in root.iter(f"{_W}abstractNum"):
            levels = abstract.setdefault(node.get(f"{_W}abstractNumId", ""), {})
            for lvl in node.iter(f"{_W}lvl"):
                levels[lvl.get(f"{_W}ilvl", "0")] = (
                    _val(lvl.find(f"{_W}numFmt")),
                    _int(lvl.find(f"{_W}start")),
                )
        out = cls()
        for num in root.iter(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            if ref is None:
                continue
            num_id = num.get(f"{_W}numId", "")
            for level, (fmt, start) in abstract.get(_val(ref), {}).items():
                out.formats[(num_id, level)], out.starts[(num_id, level)] = fmt, start
            for override in num.iter(f"{_W}lvlOverride"):
                level = override.get(f"{_W}ilvl", "0")
                start_override = override.find(f"{_W}startOverride")
                if start_override is not None:
                    out.starts[(num_id, level)] = _int(start_override)
        return out

    def key(self, paragraph: Paragraph) -> tuple[str, str] | None:
        """The paragraph's (numbering id, level), or None (not numbered, or values python-docx rejects)."""
        from docx.exceptions import PythonDocxError
        from docx.oxml.exceptions import InvalidXmlError

        try:
            num: Any = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
            if num is None or num.numId is None:
                return None
            return str(num.numId.val), str(num.ilvl.val) if num.ilvl is not None else "0"
        except (ValueError, TypeError, AttributeError, PythonDocxError, InvalidXmlError):
            return None  # <w:numId/> without a value, or w:val="abc"

    def ordered(self, paragraph: Paragraph, style: str) -> bool:
        """A list item of an ordered list: by its style's name, else by its numbering's format."""
        if _NUMBER_STYLE.search(style):
            return True
        key = self.key(paragraph)
        fmt = self.formats.get(key, "") if key else ""
        return bool(fmt) and fmt not in ("bullet", "none")

    def goes_on(self, paragraph: Paragraph) -> Series | None:
        """The earlier ordered list that a new one continues, if any."""
        key = self.key(paragraph)
        if key is None:
            return None
        if key[0] in self.series:
            return self.series[key[0]]
        last = self.series.get(self.last or "")
        return last if last is not None and last.goes_on_at(self.starts.get(key, 1)) else None

    def count(self, paragraph: Paragraph, block: int, kind: UnitKind, lead: str | None) -> None:
        """Note an ordered item written into ``block``."""
        key = self.key(paragraph)
        if key is None or key[1] != "0":
            return
        number = self.series[key[0]].next if key[0] in self.series else self.starts.get(key, 1)
        self.series[key[0]] = Series(block, kind, lead, number + 1)
        self.last = key[0]


def _code_text(lines: list[str]) -> str:
    """A code block's lines as one text, without the blank lines that followed it."""
    return "\n".join(lines).rstrip("\n")


def _mono(paragraph: Paragraph) -> bool:
    """Every run with text is set in a monospace font by hand (code pasted into a "Normal" paragraph)."""
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(MONOSPACE_FONT.search(run.font.name or "") for run in runs)


def _val(node: Any) -> str:
    return str(node.get(f"{_W}val", "")) if node is not None else ""


def _int(node: Any) -> int:
    try:
        return int(_val(node) or 1)
    except ValueError:
        return 1


def _check_zip(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(f"{name}: not a Word document (.docx files are zip archives), skipped") from exc
    if len(members) > MAX_MEMBERS:
        raise DocumentError(
            f"{name}: the archive holds {len(members)} files, too many for a document, skipped"
        )
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED_BYTES:
        raise DocumentError(
            f"{name}: would unpack to {total // 2**20} MB, over the {MAX_UNZIPPED_BYTES // 2**20} MB "
            "limit (a zip bomb?), skipped"
        )


def _open(data: bytes, name: str) -> Document:
    import docx

    _check_zip(data, name)
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors... on broken parts
        raise DocumentError(
            f"{name}: not a readable Word document ({exc.__class__.__name__}), skipped"
        ) from exc


def parse_docx(data: bytes, name: str = "document") -> ParsedDocument:
    """Extract a .docx's paragraphs, lists and tables in order and cut them into units.

    Raises:
        DocumentError: not a zip or not a Word document, too large when unpacked, or without text.
    """
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = _open(data, name)
    numbering = _Numbering.of(document)
    writer = TextWriter()
    headings: list[tuple[int, str]] = []
    title: str | None = None
    lead_in: str | None = None
    in_list = False
    code: list[str] = []
    last_item: str | None = None
    for block in document.iter_inner_content():
        paragraph = isinstance(block, Paragraph)
        style = (block.style.name if block.style is not None else "") if paragraph else ""
        # python-docx joins a paragraph's runs on every read of .text: read it once.
        raw = block.text if isinstance(block, Paragraph) else ""
        if isinstance(block, Paragraph) and raw.strip() and (_CODE_STYLE.search(style or "") or _mono(block)):
            code.append(raw.rstrip())  # a code block keeps its lines and their indentation
            continue
        if code and paragraph and not raw.strip():
            code.append("")  # a blank line inside the code, unless the code ends here
            continue
        if code:
            # Inside a list, a code block is the last item's command (a step and what to run).
            writer.write(_code_text(code), "code", last_item if in_list else None, new_block=not in_list)
            code = []
        if isinstance(block, Table):
            _write_table(writer, block)
            in_list, lead_in = False, None
            continue
        if not isinstance(block, Paragraph):
            continue
        text = " ".join(raw.split())
        if not text:
            continue
        heading = _HEADING.match(style or "")
        if heading:
            level = int(heading.group(2) or 1) if heading.group(1).lower() == "heading" else 0
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, text))
            writer.section = tuple(t for _, t in headings)
            title = title or text
            in_list, lead_in = False, None
            continue
        numbered = block._p.pPr is not None and block._p.pPr.numPr is not None
        if _LIST_STYLE.search(style or "") or numbered:
            ordered = numbering.ordered(block, style or "")
            kind: UnitKind = "step" if ordered and is_how_to(*writer.section, lead_in or "") else "list_item"
            earlier = numbering.goes_on(block) if ordered and not in_list else None
            if earlier is not None:  # "3." after a heading or table that broke off "1." and "2."
                writer.resume(earlier.block)
                kind, lead_in = earlier.kind, earlier.lead_in
            writer.write(text, kind, lead_in, new_block=not in_list and earlier is None)
            if ordered:
                numbering.count(block, writer.block, kind, lead_in)
            in_list, last_item = True, text
            continue
        writer.write(text, None)
        lead_in, in_list = lead_in_of(text), False
    if code:
        writer.write(_code_text(code), "code", last_item if in_list else None, new_block=not in_list)
    units = writer.units()
    if not units:
        raise DocumentError(f"{name}: the Word document holds no text, skipped")
    return ParsedDocument(writer.text(), title, units)


def _write_table(writer: TextWriter, table: object) -> None:
    from docx.table import Table

    assert isinstance(table, Table)
    header: str | None = None
    first = True
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            value = " ".join(cell.text.split())
            if not cells or value != cells[-1]:  # merged cells repeat their text
                cells.append(value)
        if not any(cells):
            continue
        line = " | ".join(cells)
        if header is None:
            header = line
            continue
        writer.write(line, "table_row", header, new_block=first)
        first = False
