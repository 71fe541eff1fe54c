"""HTML into citable units: the page's main content, walked element by element.

The page is first cut down to its main content by structure: ``<main>``, ``<article>`` or
``role="main"`` when the page marks it, and never navigation, headers, footers, sidebars, forms,
scripts, or elements whose class or id names furniture (menus, ads, "trending", share bars, cookie
banners). Blocks that are not sentences (a lone "Advertisement") are not prose and are dropped. What
remains is written out as plain text, one block per paragraph, list item, table row or code block,
and unit offsets point into that extracted text (``ParsedDocument.text``).

Why not an extractor library: on the handmade pages in tests/ingest/parsers/pages (a docs page, a news
article, a page of bare divs), trafilatura 2.3 kept all content but let a bare "Advertisement" through
on the div page, and readability-lxml 0.9 let "Advertisement" and a share bar through; both return
text (or their own XML) with no way back to the elements, so tables, lists and code would have to be
recovered from it. This filter kept all content and no furniture on the three pages, keeps every
unit kind, and needs nothing beyond BeautifulSoup.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ...errors import DocumentError
from ..segment import is_prose
from .units import ParsedDocument, Series, UnitKind, is_how_to, last_sentence, lead_in_of
from .writer import TextWriter

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

log = logging.getLogger(__name__)

_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "nav", "footer", "aside", "form", "button",
     "iframe", "select", "input", "textarea", "head", "object", "canvas", "dialog", "menu"}
)  # fmt: skip
_SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "menu", "dialog"})
_FURNITURE = re.compile(
    r"(^|[\s_-])(nav|navbar|menu|sidebar|side-bar|footer|breadcrumbs?|advert\w*|ads?|ad-slot|promo\w*|"
    r"trending|related|share|sharing|social|cookie\w*|newsletter|subscribe|banner|popup|modal|toc|"
    r"skip-link|pagination|comments?)($|[\s_-])",
    re.IGNORECASE,
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q",
     "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr", "img", "del", "ins"}
)  # fmt: skip
MAX_DEPTH = 200


def _clean(text: str) -> str:
    return " ".join(text.split())


def _is_furniture(tag: Tag) -> bool:
    if tag.name in _SKIP_TAGS or tag.get("role") in _SKIP_ROLES:
        return True
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    style = str(tag.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    names = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")])
    return bool(names.strip()) and bool(_FURNITURE.search(names))


_TYPED_ITEM = re.compile(r"^([-*+•]|\d{1,3}[.)])\s+(?=\S)")
_GOES_ON = re.compile(r"\w[:.!?]\s+\S")
# The permalink a docs site puts after each heading: "Installation¶", "Installation #".
_HEADER_LINK = re.compile(r"(\s*[¶§🔗])+$|\s+#$")

# Elements that a browser would never leave inside a <p>: one found there means unclosed markup, so
# the "paragraph" is walked as a container instead of read as one run of text.
_BLOCK_CHILDREN = ["p", "div", "ul", "ol", "table", "pre", "section", "article", "blockquote"]


class _HtmlWalker:
    def __init__(self) -> None:
        self.out = TextWriter()
        self.headings: list[tuple[int, str]] = []
        self.title: str | None = None
        # The paragraph right before, whose last sentence is the lead-in of a list that follows it
        # (split into sentences only then: most paragraphs introduce nothing).
        self.last_para: str | None = None
        # The last top-level numbered list: its block, kind, lead-in and the number its next item has.
        self.numbered: Series | None = None

    def walk(self, node: Tag, depth: int = 0) -> None:
        from bs4 import NavigableString, Tag

        if depth > MAX_DEPTH:  # hostile nesting: keep its text as one plain paragraph rather than lose it
            text = _clean(node.get_text(" "))
            if text:
                log.warning(
                    "HTML nested past %d levels; the text inside is read as plain paragraphs", MAX_DEPTH
                )
                self.out.write(text, None)
            return
        run: list[str] = []
        for child in node.children:
            if isinstance(child, Tag) and (child.name in _INLINE) and not _is_furniture(child):
                run.append(child.get_text())
                continue
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a comment, CDATA or doctype
                    run.append(str(child))
                continue
            self._flush(run)
            run = []
            if isinstance(child, Tag) and not _is_furniture(child):
                self.element(child, depth)
        self._flush(run)

    def _flush(self, run: list[str]) -> None:
        text = _clean(" ".join(run))
        if text and is_prose(text):
            self.out.write(text, None)
            self.last_para = text

    def element(self, tag: Tag, depth: int) -> None:
        name = tag.name
        if name in _HEADINGS:
            self.heading(_HEADINGS[name], _heading_text(tag))
        elif name == "p" and tag.find(_BLOCK_CHILDREN) is None and self.typed_list(tag):
            pass
        elif name == "p" and tag.find(_BLOCK_CHILDREN) is None:
            text = _clean(tag.get_text())
            # A paragraph element is prose by markup; only a label-like one ("Advertisement") is not.
            # One that goes on after a colon or a full stop ("Supported: - OpenRouter - OpenAI", a list
            # its site didn't render as one) is content, however it ends.
            if text and (
                is_prose(text)
                or (text.endswith(":") and len(text.split()) >= 2)
                or (_GOES_ON.search(text) and len(text.split()) >= 4)
            ):
                self.out.write(text, None)
                self.last_para = text
            else:
                self.last_para = None
        elif name in ("ul", "ol"):
            self.list(tag, last_sentence(self.last_para) if self.last_para else None, None, depth)
            self.last_para = None
        elif name == "table":
            self.table(tag)
            self.last_para = None
        elif name == "pre":
            code = tag.get_text().strip("\n").rstrip()
            if code.strip():
                self.out.write(code, "code")
            self.last_para = None
        else:
            self.walk(tag, depth + 1)

    def typed_list(self, tag: Tag) -> bool:
        """Write a paragraph whose lines are a list typed as text as that list; False if it isn't one.

        Markdown that needs a blank line before a list (MkDocs' Python-Markdown) renders "Supported:"
        and the "- OpenRouter" lines under it as one paragraph; the lines still say what they are.
        """
        lines = [line.strip() for line in tag.get_text().split("\n") if line.strip()]
        marked = [i for i, line in enumerate(lines) if _TYPED_ITEM.match(line)]
        if len(marked) < 2 or marked != list(range(marked[0], len(lines))):
            return False
        lead = _clean(" ".join(lines[: marked[0]]))
        if lead:
            self.out.write(lead, None)
        context = lead_in_of(lead) if lead else None
        for n, i in enumerate(marked):
            item = _clean(_TYPED_ITEM.sub("", lines[i], count=1))
            if item:
                self.out.write(item, "list_item", context, new_block=n == 0)
        self.last_para = None
        return True

    def heading(self, level: int, text: str) -> None:
        if not text:
            return
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, text))
        self.out.section = tuple(t for _, t in self.headings)
        if self.title is None and level == 1:
            self.title = text
        self.last_para = None

    def list(self, tag: Tag, lead_in: str | None, outer: UnitKind | None, depth: int) -> None:

        if depth > MAX_DEPTH:
            return
        kind: UnitKind = "list_item"
        if tag.name == "ol" and (outer == "step" or is_how_to(*self.out.section, lead_in or "")):
            kind = "step"
        first = outer is None
        number = _start(tag)
        series = self.numbered
        if outer is None and tag.name == "ol" and series is not None and series.goes_on_at(number):
            # <ol start="3"> after a heading or table that broke "1." and "2." off: the same steps.
            self.out.resume(series.block)
            kind, lead_in, first = series.kind, series.lead_in, False
        for li in tag.find_all("li", recursive=False):
            if _is_furniture(li):
                continue
            nested = _nested_blocks(li)
            for n, _ in nested:
                n.extract()
            text = _clean(li.get_text())
            if text:
                self.out.write(text, kind, lead_in, new_block=first)
                first = False
            for n, label in nested:
                if n.name == "pre":  # a step's command: in the step's block, introduced by the step
                    code = n.get_text().strip("\n").rstrip()
                    if code.strip():
                        self.out.write(code, "code", label or text or lead_in, new_block=first)
                        first = False
                else:
                    self.list(n, text or lead_in, kind, depth + 1)
            number += 1
        if outer is None and tag.name == "ol":
            self.numbered = Series(self.out.block, kind, lead_in, number)

    def table(self, tag: Tag) -> None:
        header: str | None = None
        first = True
        for tr in tag.find_all("tr"):
            cells = [_clean(c.get_text(" ")) for c in tr.find_all(["td", "th"], recursive=False)]
            if not any(cells):
                continue
            row = " | ".join(cells)
            if header is None and tr.find("td", recursive=False) is None:
                header = row
                continue
            self.out.write(row, "table_row", header, new_block=first)
            first = False


def _heading_text(tag: Tag) -> str:
    """A heading's words without the permalink docs sites add to it (Sphinx, MkDocs: ``headerlink``)."""
    for link in tag.find_all("a", class_=re.compile(r"headerlink|anchor|permalink", re.IGNORECASE)):
        if not _HEADER_LINK.sub("", link.get_text()).strip():  # "¶", "#" or nothing, not the title itself
            link.extract()
    return _HEADER_LINK.sub("", _clean(tag.get_text()))


def _start(ol: Tag) -> int:
    """The number of an ordered list's first item (its ``start`` attribute, 1 by default)."""
    try:
        return int(str(ol.get("start") or 1))
    except ValueError:
        return 1


def _nested_blocks(li: Tag) -> list[tuple[Tag, str | None]]:
    """The lists and code blocks inside a list item (not inside a deeper one), in document order.

    A step's command is often wrapped (``<div class="sourceCode"><pre>``), so they are looked for below
    the item's children too. Each comes with the text just before it inside the item, when that ends
    in ":" ("With Docker:"), which introduces it better than the whole item does.
    """
    from bs4 import Tag as T

    found: list[tuple[Tag, str | None]] = []
    label: str | None = None

    def visit(node: Tag, depth: int) -> None:
        nonlocal label
        if depth > MAX_DEPTH:  # hostile nesting: what lies deeper stays part of the item's text
            return
        for child in node.children:
            if not isinstance(child, T):
                continue
            if child.name in ("ul", "ol", "pre"):
                found.append((child, label))
                label = None
            elif child.name in ("p", "strong", "b", "em"):
                text = _clean(child.get_text())
                label = text if text.endswith(":") else None
            elif child.name != "li":
                visit(child, depth + 1)

    visit(li, 0)
    return found


_BR = re.compile(r"<br\b[^<>]*>", re.IGNORECASE)


def _soup(html: str) -> BeautifulSoup:
    from bs4 import BeautifulSoup

    # The standard library's parser: lenient enough for real pages, and no extra dependency.
    return BeautifulSoup(html, "html.parser")


def parse_html(html: str, name: str = "document") -> ParsedDocument:
    """Extract the main content of an HTML page and cut it into units; offsets are into that text.

    Raises:
        DocumentError: the page has no main content (only navigation, scripts or furniture).
    """
    # A line break is a newline in the text. Replaced in the markup, not in the tree: replacing each
    # <br> element scans its parent's children, quadratic when a page holds thousands of them.
    soup = _soup(_BR.sub("\n", html))
    walker = _HtmlWalker()
    root = soup.find("main") or soup.find(role="main") or soup.find("article") or soup.body or soup
    if soup.title and soup.title.string:
        walker.title = _clean(soup.title.string) or None
    walker.walk(root)
    text = walker.out.text()
    units = walker.out.units()
    if not units:
        raise DocumentError(
            f"{name}: no readable content (only navigation, scripts or page furniture), skipped"
        )
    return ParsedDocument(text, walker.title, units)
