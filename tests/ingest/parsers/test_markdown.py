from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.ingest.parsers.markdown import parse_markdown

from .conftest import assert_exact, assert_nested_or_disjoint, rows

DOC = """---
id: setup
---

# Setup

{% Banner type="note" %}

Run it locally. It needs Python.

Or run local models with:
- [LM Studio](https://lmstudio.ai)
- [Ollama](https://ollama.com)

## Instructions

1. Clone the repo:
   ```bash
   git clone https://example.org/x
   cd x
   ```

2. Start it.

| Setting | Description |
| --- | --- |
| **port** | The port to listen on. |
"""


def test_markdown_units_are_exact_and_typed():
    """Paragraphs give sentences, items lose their marker, steps keep their code, rows are whole lines."""
    doc = parse_markdown(DOC)
    assert_exact(doc)
    assert rows(doc) == [
        ("sentence", "Run it locally."),
        ("sentence", "It needs Python."),
        ("sentence", "Or run local models with:"),
        ("list_item", "[LM Studio](https://lmstudio.ai)"),
        ("list_item", "[Ollama](https://ollama.com)"),
        ("step", "Clone the repo:"),
        ("code", "git clone https://example.org/x\n   cd x"),
        ("code", "git clone https://example.org/x"),
        ("code", "cd x"),
        ("step", "Start it."),
        ("table_row", "| **port** | The port to listen on. |"),
    ]
    assert doc.title == "Setup"


def test_markdown_context_section_and_blocks():
    """List items carry their lead-in, rows their header row, every unit its heading path."""
    doc = parse_markdown(DOC)
    items = [u for u in doc.units if u.kind == "list_item"]
    assert {u.context for u in items} == {"Or run local models with:"}
    assert items[0].section == ("Setup",)
    row = next(u for u in doc.units if u.kind == "table_row")
    assert row.context == "| Setting | Description |"
    assert row.section == ("Setup", "Instructions")
    step, code = doc.units[5], doc.units[6]
    assert step.block == code.block  # a step and its command group together
    assert items[0].block == items[1].block != doc.units[0].block


def test_front_matter_and_template_tags_are_not_units():
    """YAML front matter and Markdoc tags never become units."""
    doc = parse_markdown(DOC)
    assert not any("id: setup" in u.text or "{%" in u.text for u in doc.units)


def test_unterminated_fence_runs_to_the_end():
    """A code fence without its closing line is code up to the end of the file."""
    doc = parse_markdown("Intro here.\n\n```python\nx = 1\ny = 2\n")
    assert rows(doc)[:2] == [("sentence", "Intro here."), ("code", "x = 1\ny = 2")]


def test_lists_nested_1000_deep_lose_no_text():
    """Past markdown-it's nesting limit the rest of the file is still read, as plain text."""
    text = "".join("  " * i + f"- item {i}\n" for i in range(1000))
    doc = parse_markdown(text)
    assert_exact(doc)
    assert doc.units[0].text == "item 0"
    assert doc.units[-1].text.endswith("item 999")


@pytest.mark.slow
def test_a_5_mb_table_parses_into_rows():
    """A Markdown file that is one 5 MB table gives one unit per row."""
    row = "| cell one | cell two with words | 12345 |\n"
    count = 5_000_000 // len(row)
    doc = parse_markdown("| a | b | c |\n|---|---|---|\n" + row * count)
    assert len(doc.units) == count
    assert doc.units[-1].text == row.strip()


_line = st.text(alphabet=st.sampled_from(list("ab .:-*#|`1>\n\t")), max_size=30)
_block = st.one_of(
    _line,
    st.builds(lambda w: f"- {w}\n  - {w}.\n", st.text("xyz .", min_size=1, max_size=12)),
    st.builds(lambda w: f"1. {w}\n2. Do it.\n", st.text("xyz .", min_size=1, max_size=12)),
    st.builds(lambda w: f"| h | k |\n|---|---|\n| {w} | v |\n", st.text("xyz ", max_size=8)),
    st.builds(lambda w: f"```\n{w}\n```\n", st.text("xyz =()\n", max_size=12)),
    st.builds(lambda w: f"## {w}\n", st.text("xyz", max_size=8)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_block, max_size=8).map("\n".join))
def test_markdown_units_are_exact_slices(text):
    """For any Markdown, every unit is source[start:end], non-empty, and units never straddle."""
    doc = parse_markdown(text)
    assert doc.text == text
    assert_exact(doc)
    assert_nested_or_disjoint(doc.units)


def test_trailing_link_definitions_are_not_text():
    """Link reference definitions at the end make no units (they are not unread nested text)."""
    text = "# T\n\nSee [the docs][d] for more.\n\n[d]: https://example.org/docs\n[e]: https://example.org/e\n"
    doc = parse_markdown(text)
    assert [u.text for u in doc.units] == ["See [the docs][d] for more."]


def test_a_code_block_carries_the_sentence_that_introduces_it():
    """Code right after a paragraph gets its last sentence as context; code after a heading gets none."""
    doc = parse_markdown(
        "# Sync\n\nAdd the command. Then sync the tree for each guild:\n\n"
        "```python\nawait tree.sync(guild=guild)\nprint('done')\n```\n\n## Other\n\n    indented = 1\n"
    )
    assert_exact(doc)
    code = [u for u in doc.units if u.kind == "code"]
    assert [u.context for u in code] == ["Then sync the tree for each guild:"] * 3 + [None]


def test_a_numbered_list_broken_by_headings_goes_on_as_one_series_of_steps():
    """ "1. Clone", "2. Set up", a heading and a table, then "3. Run": one block, with each step's code."""
    text = (
        "## Instructions\n\n1. Clone the repo:\n   ```bash\n   git clone x\n   ```\n\n"
        "2. Set up the config:\n\n"
        "### Settings\n\n| Setting | Meaning |\n| --- | --- |\n| token | The bot's token |\n\n"
        "3. Run the bot:\n\n   ```bash\n   python bot.py\n   ```\n"
    )
    doc = parse_markdown(text)
    assert_exact(doc)
    steps = [u for u in doc.units if u.kind == "step"]
    assert [u.text for u in steps] == ["Clone the repo:", "Set up the config:", "Run the bot:"]
    assert len({u.block for u in steps}) == 1
    row = next(u for u in doc.units if u.kind == "table_row")
    assert row.block != steps[0].block  # the table between is not a step
    run = next(u for u in doc.units if u.text == "python bot.py")
    assert run.block == steps[0].block


def test_an_unindented_code_fence_after_a_step_is_that_steps_command():
    """A fence at the margin between "1." and "2." is the first step's command, and the list goes on."""
    text = (
        "## Install\n\n1. Clone the repo:\n\n```bash\ngit clone x\n```\n\n"
        "2. Run it:\n\n```bash\npython x.py\n```\n\nDone.\n\n```\nother\n```\n"
    )
    doc = parse_markdown(text)
    assert_exact(doc)
    got = [(u.kind, u.text, u.context) for u in doc.units]
    assert got[:4] == [
        ("step", "Clone the repo:", None),
        ("code", "git clone x", "Clone the repo:"),
        ("step", "Run it:", None),
        ("code", "python x.py", "Run it:"),
    ]
    assert len({u.block for u in doc.units[:4]}) == 1
    # After a paragraph, a fence is a code block of its own again.
    other = next(u for u in doc.units if u.text == "other")
    assert other.block != doc.units[0].block and other.context == "Done."


def test_a_numbered_list_that_starts_elsewhere_is_a_list_of_its_own():
    """A list starting at 5 after one that ended at 2 is not its continuation."""
    doc = parse_markdown("1. One.\n2. Two.\n\nText.\n\n5. Five.\n6. Six.\n")
    items = [u for u in doc.units if u.kind in ("step", "list_item")]
    assert [u.text for u in items] == ["One.", "Two.", "Five.", "Six."]
    assert items[0].block == items[1].block != items[2].block == items[3].block


PARAMETERS = (
    "The index parameters include:\n\n"
    "- `space` is the distance function.\n\n"
    "| Distance | parameter |\n| --- | --- |\n| Squared L2 | `l2` |\n\n"
    '{% Banner type="note" %}\nMake sure your embedding function supports the space.\n{% /Banner %}\n\n'
    "- `ef_search` is the candidate list size.\n- `num_threads` is the number of threads.\n"
)


def test_a_bulleted_list_broken_by_a_table_and_a_note_goes_on_under_its_lead_in():
    """ "- space", a table of spaces, a note, then "- ef_search": one list of parameters, one lead-in."""
    doc = parse_markdown(PARAMETERS)
    assert_exact(doc)
    items = [u for u in doc.units if u.kind == "list_item"]
    assert [u.text.split()[0] for u in items] == ["`space`", "`ef_search`", "`num_threads`"]
    assert len({u.block for u in items}) == 1
    assert {u.context for u in items} == {"The index parameters include:"}
    note = next(u for u in doc.units if u.text.startswith("Make sure"))
    row = next(u for u in doc.units if u.kind == "table_row")
    assert items[0].block not in (note.block, row.block)  # the note and the table are not items


@pytest.mark.parametrize(
    ("between", "joined"),
    [
        ("```\nclient.create()\n```\n\n", True),  # a code block at the margin
        ("> **Note:** spaces must match.\n\n", True),  # a quoted note
        ("/// tip\nSpaces must match.\n///\n\n", True),  # a pymdown note block
        ("Also these settings:\n\n", False),  # a paragraph: the next list has its own lead-in
        ("## Other settings\n\n", False),  # a heading starts another section
        ("{% Tabs %}\nSpaces must match.\n{% /Tabs %}\n\n", False),  # tabs hold text, not a note
        ("{% note /%}\n\nA new topic.\n\n", False),  # a self-closing tag opens no aside
        ("{% Banner %}\nA note.\n{% Tabs %}\nx\n{% /Tabs %}\nMore of the note.\n{% /Banner %}\n\n", True),
        ("---\n\n", False),  # a thematic break
        ("<p>Unrelated.</p>\n\n", False),  # raw HTML content
        ("<!-- a comment -->\n\n", True),
    ],
)
def test_bullets_go_on_only_past_tables_code_and_notes(between: str, joined: bool):
    doc = parse_markdown(f"Settings:\n\n- `space` is one.\n\n{between}- `ef_search` is two.\n")
    assert_exact(doc)
    first, second = (u for u in doc.units if u.kind == "list_item")
    assert (first.block == second.block) is joined
    assert (second.context == "Settings:") is joined


def test_a_list_inside_a_quote_is_a_list_of_its_own_and_never_goes_on_with_the_text():
    """A quoted note's own list is neither part of the list around it nor one the text goes on with."""
    doc = parse_markdown("Options:\n\n- `a` one.\n\n> Beware:\n> - `x` quoted.\n\n- `c` three.\n")
    a, x, c = (u for u in doc.units if u.kind == "list_item")
    assert a.block == c.block != x.block
    assert (a.context, x.context, c.context) == ("Options:", "Beware:", "Options:")
    doc = parse_markdown("> - quoted\n\n- real\n")
    quoted, real = (u for u in doc.units if u.kind == "list_item")
    assert quoted.block != real.block


def test_a_code_line_is_a_whole_statement():
    """A call spread over lines is one unit, never its opening line alone; a JSON body is only whole."""
    text = (
        "Make it required:\n\n"
        "```python\n"
        "@click.command()\n"
        "@click.option(\n"
        '    "--n",\n'
        "    required=True,  # (the default is False\n"
        ")\n"
        'def dots(n):\n    click.echo("(" * n)\n'
        "```\n\n"
        "The error:\n\n"
        '```json\n{\n  "detail": [\n    "missing"\n  ]\n}\n```\n\n'
        "```bash\ndocker run \\\n  -p 8000:8000 chroma\nls\n```\n"
    )
    doc = parse_markdown(text)
    assert_exact(doc)
    code = [u.text for u in doc.units if u.kind == "code"]
    assert code[1:] == [
        "@click.command()",
        '@click.option(\n    "--n",\n    required=True,  # (the default is False\n)',
        "def dots(n):",
        'click.echo("(" * n)',  # a line's indentation is not quoted
        '{\n  "detail": [\n    "missing"\n  ]\n}',  # the block whole, and no line of it alone
        "docker run \\\n  -p 8000:8000 chroma\nls",
        "docker run \\\n  -p 8000:8000 chroma",
        "ls",
    ]


def test_code_whose_brackets_never_close_is_cut_into_lines():
    """A snippet cut short ("x = foo(" and no ")") still has its lines to cite."""
    doc = parse_markdown("```\nx = foo(\n  1,\ny = 2\n```\n")
    code = [u.text for u in doc.units if u.kind == "code"]
    assert code == ["x = foo(\n  1,\ny = 2", "x = foo(", "1,", "y = 2"]
