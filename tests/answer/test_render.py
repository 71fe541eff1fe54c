"""Citations read as their authors' readers see them, while their data stays verbatim."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import Answer, Citation
from retrieval.answer.render import answer_pieces, render_citation
from retrieval.ingest.parsers.markdown import parse_markdown
from retrieval.ingest.parsers.rst import parse_rst
from retrieval.markup import (
    Piece,
    markup_of,
    render_code,
    render_inline,
    render_table_row,
    section_path,
    to_markdown,
)

README = """\
# citebot

Answers questions with **exact** quotes. Get [LM Studio](https://lmstudio.ai) for written answers.
[![CI](https://ci.example/badge.svg)](https://ci.example)

## Requirements

You need:

- Python 3.11 or newer (see [the docs][docs])
- `make` and <kbd>git</kbd>

| Tool | Version | Where |
|------|:-------:|-------|
| `pip` | 24.0 | [PyPI](https://pypi.org) |
| uv | 0.5 \\| newer | |

## Install

1. Create a virtualenv.
2. Run the installer:

   ```sh
   pip install citebot
   citebot ingest docs/
   ```

[docs]: https://example.org/docs
"""

GUIDE_RST = """\
Guide
=====

Use ``citebot ask`` or read `the manual <https://example.org/manual>`_ and :class:`~retrieval.Library`.

=========  ==========================
Command    What it does
=========  ==========================
ingest     Indexes *your* documents.
ask        Answers with **sources**.
=========  ==========================

+--------+------------------+
| Flag   | Meaning          |
+========+==================+
| --json | Print the answer |
|        | as JSON.         |
+--------+------------------+
"""


def cite(text: str, source: str = "/docs/README.md", **fields: object) -> Citation:
    return Citation(
        n=1, doc_id="README", source=source, title="citebot", start=0, end=len(text), text=text, score=1.0,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def shown(pieces: tuple[Piece, ...]) -> str:
    return to_markdown(pieces)


# Markdown --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Get [LM Studio](https://lmstudio.ai) now.", "Get LM Studio now."),
        ("![The logo](logo.png) Welcome.", "The logo Welcome."),
        ("[![CI](https://ci/badge.svg)](https://ci)", "CI"),
        ("It is **very** _fast_ and ~~slow~~.", "It is very fast and slow."),
        ("Press <kbd>Ctrl</kbd>+<kbd>C</kbd>.", "Press Ctrl+C."),
        ("One<br>two", "One two"),
        ("Run `pip install citebot` first.", "Run `pip install citebot` first."),
        ("See [the docs][docs] and [Foo][].", "See the docs and Foo."),
        ("Wrapped\nline\n> quoted on", "Wrapped line quoted on"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("Keep [1] markers and <https://x.org>", "Keep [1] markers and https://x.org"),
    ],
)
def test_markdown_inline_markup_renders_as_readers_see_it(text: str, expected: str) -> None:
    """Links show their text, images their alt text, emphasis and tags vanish, inline code stays code."""
    assert shown(render_inline(text, "markdown")) == expected


@settings(max_examples=80, deadline=None)
@given(
    words=st.lists(st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True), min_size=1, max_size=4),
    path=st.from_regex(r"[a-z0-9/._-]{0,20}", fullmatch=True),
)
def test_no_markdown_link_address_is_ever_shown(words: list[str], path: str) -> None:
    """Whatever a link's words and address, the rendering holds the words and never the address."""
    label = " ".join(words)
    text = f"Read [{label}](https://host.example/{path}) today."
    out = shown(render_inline(text, "markdown"))
    assert out == f"Read {label} today."
    assert "host.example" not in out


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200))
def test_any_text_renders_without_error_in_every_markup(text: str) -> None:
    """Arbitrary text (broken markup included) renders in every markup and kind, never raising."""
    for markup in ("markdown", "rst", "plain"):
        for pieces in (
            render_inline(text, markup),
            render_table_row(text, text, markup),
            render_code(text) if text.strip() else (),
        ):
            assert all(p.text for p in pieces)


# reStructuredText ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Run ``citebot ask`` now.", "Run `citebot ask` now."),
        ("Read `the manual <https://example.org/m>`_ first.", "Read the manual first."),
        ("Read `<https://example.org/m>`__.", "Read https://example.org/m."),
        ("Use :class:`Foo` here.", "Use `Foo` here."),
        ("Call :py:meth:`~retrieval.Library.ask`.", "Call `ask`."),
        ("See :ref:`Installing <install>` and :doc:`usage`.", "See Installing and usage."),
        ("It is *quick* and **safe**.", "It is quick and safe."),
        ("As shown [1]_ by Sphinx_ and `Read the Docs`_.", "As shown by Sphinx and Read the Docs."),
        ("A literal \\*star\\* and snake_case_name stay.", "A literal *star* and snake_case_name stay."),
        ("An _`inline target` here.", "An inline target here."),
        ("Send it like so::", "Send it like so:"),
        ("Send it like so: ::", "Send it like so:"),
    ],
)
def test_rst_inline_markup_is_cleaned(text: str, expected: str) -> None:
    """Literals become code, links and roles their titles (API roles as code), emphasis and refs vanish."""
    assert shown(render_inline(text, "rst")) == expected


def test_plain_text_is_only_tidied() -> None:
    """Text extracted from HTML, PDF or Word has no markup: asterisks and brackets are the author's."""
    assert shown(render_inline("Price: 5 * 3 [approx]\n  (`x`)", "plain")) == "Price: 5 * 3 [approx] (`x`)"


# Tables ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "header", "markup", "expected"),
    [
        ("| `pip` | 24.0 | [PyPI](https://pypi.org) |", "| Tool | Version | Where |", "markdown",
         "Tool: `pip`; Version: 24.0; Where: PyPI"),
        ("uv | 0.5 \\| newer |", "Tool | Version | Where", "markdown", "Tool: uv; Version: 0.5 | newer"),
        ("pip | 24.0", "Tool | Version", "plain", "Tool: pip; Version: 24.0"),
        ("| --json | Print the answer |\n  |        | as JSON.         |", "| Flag   | Meaning   |",
         "rst", "Flag: --json; Meaning: Print the answer as JSON."),
        ("ask        Answers with **sources**.", "Command    What it does", "rst",
         "Command: ask; What it does: Answers with sources."),
        ("| a | b |", None, "markdown", "a; b"),
        ("| a | b | c |", "| One | Two |", "markdown", "One: a; Two: b; c"),
    ],
)  # fmt: skip
def test_table_rows_read_as_column_value_pairs(
    row: str, header: str | None, markup: str, expected: str
) -> None:
    """A row reads "Column: value; ...", labelled by its header (pipe, grid and simple tables alike)."""
    assert shown(render_table_row(row, header, markup)) == expected  # type: ignore[arg-type]


def test_rule_rows_are_never_shown() -> None:
    """A separator row has no cells: it renders as nothing, and rule lines in a header are ignored."""
    assert render_table_row("|------|:----:|", "| A | B |", "markdown") == ()
    assert shown(render_table_row("| x | y |", "| A | B |\n|---|---|", "markdown")) == "A: x; B: y"
    assert shown(render_table_row("+----+\n| x |\n+----+", "| A |", "rst")) == "A: x"


# Code ------------------------------------------------------------------------------------------------------


def test_a_code_line_is_a_span_and_a_block_keeps_its_lines() -> None:
    """One line of code becomes a code span; several stay a block, line for line."""
    assert render_code("pip install citebot") == (Piece("pip install citebot", "code"),)
    assert render_code("pip install citebot\ncitebot ask 'q'\n") == (
        Piece("pip install citebot\ncitebot ask 'q'", "block"),
    )


def test_a_block_cited_from_a_list_item_loses_the_items_indent_but_code_keeps_its_own() -> None:
    """Later lines' shared indent (from the list) goes; a body under ``def f():`` keeps its indent."""
    assert render_code("pip install x\n   citebot ingest")[0].text == "pip install x\ncitebot ingest"
    assert render_code("def f():\n    return 1")[0].text == "def f():\n    return 1"


def test_markdown_output_fences_code_safely() -> None:
    """Code with backticks gets a longer fence; escaping touches text, never code."""
    pieces = (Piece("Run "), Piece("echo `date`", "code"), Piece(" *now*"), Piece("a ```b```", "block"))
    out = to_markdown(pieces, escape=lambda t: t.replace("*", "\\*"))
    assert out == "Run `` echo `date` `` \\*now\\*\n````\na ```b```\n````"


# Sections and whole citations ------------------------------------------------------------------------------


def test_section_path_is_joined_and_skips_a_heading_that_repeats_the_title() -> None:
    """Headings join with " › "; a first heading equal to the title is not repeated; markup goes."""
    assert section_path(["Instructions", "Discord settings"]) == "Instructions › Discord settings"
    assert section_path(["citebot", "Install `x`"], "citebot", "markdown") == "Install x"
    assert section_path([]) == ""


@pytest.mark.parametrize(
    ("source", "markup"),
    [
        ("/docs/README.md", "markdown"),
        ("notes.MARKDOWN", "markdown"),
        ("https://example.org/guide.rst?x=1", "rst"),
        ("C:\\docs\\guide.rest", "rst"),
        ("/docs/page.html", "plain"),
        ("report.pdf", "plain"),
        ("https://example.org/", "plain"),
    ],
)
def test_markup_is_known_from_the_source(source: str, markup: str) -> None:
    """Paths, upload names and URLs name their markup by suffix; extracted formats are plain."""
    assert markup_of(source) == markup


def test_a_list_item_carries_its_lead_in_but_a_cell_sentence_does_not() -> None:
    """A list item's lead-in is offered to the caller; a table header is not a lead-in."""
    item = render_citation(cite("Python 3.11 or **newer**", kind="list_item", context="You *need*:"))
    assert shown(item.pieces) == "Python 3.11 or newer" and shown(item.lead_in) == "You need:"
    cell = render_citation(cite("It is fast.", kind="sentence", context="| Tool | Notes |"))
    assert cell.lead_in == ()


def test_rendering_leaves_the_citation_verbatim() -> None:
    """Rendering is display only: the citation's text, offsets and JSON are untouched."""
    c = cite("| `pip` | 24.0 |", kind="table_row", context="| Tool | Version |", section=["citebot", "Req"])
    before = c.to_json_dict() if hasattr(c, "to_json_dict") else c.model_dump()
    r = render_citation(c)
    assert shown(r.pieces) == "Tool: `pip`; Version: 24.0" and r.section == ("citebot", "Req")
    assert c.model_dump() == before and c.text == "| `pip` | 24.0 |"


def test_answer_quotes_are_rendered_and_other_words_kept() -> None:
    """Verbatim quotes in an answer show rendered; markers and a model's own words stay as written."""
    a = cite("Get [LM Studio](https://lmstudio.ai).")
    b = cite("pip install x\n   citebot ingest", kind="code").model_copy(update={"n": 2})
    answer = Answer(
        question="q",
        answer=f"Install it: {a.text} [1] {b.text} [2] Then ask.",
        refused=False,
        citations=[a, b],
    )
    out = to_markdown(answer_pieces(answer))
    assert out == "Install it: Get LM Studio. [1]\n```\npip install x\ncitebot ingest\n```\n[2]\nThen ask."


# Real parsed documents -------------------------------------------------------------------------------------


def test_every_unit_of_a_parsed_readme_renders_readably() -> None:
    """Each unit the Markdown parser finds renders non-empty, without link addresses or raw markup."""
    doc = parse_markdown(README)
    rendered = {}
    for u in doc.units:
        c = cite(u.text, kind=u.kind, section=list(u.section), context=u.context)
        assert README[u.start : u.end] == c.text
        r = render_citation(c)
        text = to_markdown(r.pieces)
        assert text and "](" not in text and "**" not in text and "<kbd>" not in text
        rendered[u.text] = (r, text)
    row = next(r for t, r in rendered.items() if t.startswith("| `pip`"))
    assert row[1] == "Tool: `pip`; Version: 24.0; Where: PyPI"
    assert row[0].section == ("citebot", "Requirements")
    item = next(r for t, r in rendered.items() if t.startswith("Python 3.11"))
    assert item[1] == "Python 3.11 or newer (see the docs)" and to_markdown(item[0].lead_in) == "You need:"
    block = next(r for t, r in rendered.items() if t.startswith("pip install") and "\n" in t)
    assert block[0].is_block and block[1] == "```\npip install citebot\ncitebot ingest docs/\n```"
    assert any(text == "Get LM Studio for written answers." for _, text in rendered.values())


def test_every_unit_of_a_parsed_rst_guide_renders_readably() -> None:
    """Each unit the rst parser finds renders without roles, link targets or table borders."""
    doc = parse_rst(GUIDE_RST)
    texts = []
    for u in doc.units:
        c = cite(u.text, source="guide.rst", kind=u.kind, section=list(u.section), context=u.context)
        texts.append(to_markdown(render_citation(c).pieces))
    assert "Use `citebot ask` or read the manual and `Library`." in texts
    assert "Command: ingest; What it does: Indexes your documents." in texts
    assert "Flag: --json; Meaning: Print the answer as JSON." in texts
    assert not any(":class:" in t or "+---" in t or "<https" in t for t in texts)
