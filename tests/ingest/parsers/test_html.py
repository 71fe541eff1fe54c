from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.errors import DocumentError
from retrieval.ingest.parsers.html import parse_html

from .conftest import assert_exact, rows

PAGES = Path(__file__).parent / "pages"


def test_docs_page_units_in_extracted_text():
    """A docs page gives sentences, steps with their lead-in, code lines and table rows with headers."""
    doc = parse_html((PAGES / "docs_page.html").read_text(encoding="utf-8"))
    assert_exact(doc)
    got = rows(doc)
    assert got[:4] == [
        ("sentence", "Widgetry runs on Linux and macOS."),
        ("sentence", "It needs Python 3.11 or newer."),
        ("sentence", "To install it from source:"),
        ("step", "Clone the repository."),
    ]
    assert ("code", "cd widgetry") in got
    row = next(u for u in doc.units if u.kind == "table_row")
    assert row.text == "workers | 4 | How many worker processes serve requests."
    assert row.context == "Setting | Default | Meaning"
    assert row.section == ("Installing Widgetry", "Settings")
    assert doc.units[3].context == "To install it from source:"
    assert doc.title == "Installing Widgetry"


@pytest.mark.parametrize(
    ("page", "furniture"),
    [
        ("docs_page", ["Blog", "On this page", "Copyright", "Built with love"]),
        ("news_page", ["cookies", "Advertisement", "Trending", "Five things", "Share this", "Related"]),
        ("div_soup", ["Recipes", "Popular posts", "newsletter", "Advertisement", "Powered by"]),
    ],
)
def test_page_furniture_is_left_out(page, furniture):
    """Navigation, sidebars, ads, "Trending" boxes, share bars and footers are not in the text."""
    doc = parse_html((PAGES / f"{page}.html").read_text(encoding="utf-8"))
    for word in furniture:
        assert word not in doc.text


def test_div_soup_keeps_its_prose_and_list():
    """A page without semantic tags still yields its sentences and list items."""
    doc = parse_html((PAGES / "div_soup.html").read_text(encoding="utf-8"))
    assert ("list_item", "Rye flour makes the starter more active.") in rows(doc)
    assert ("sentence", "The starter is ready when it doubles within six hours of a feeding.") in rows(doc)


def test_navigation_only_page_is_a_document_error():
    """A page that is only navigation gives a DocumentError naming it."""
    html = (
        "<html><body><nav><ul><li><a href='/'>Home</a></li></ul></nav>"
        "<footer>Contact us.</footer></body></html>"
    )
    with pytest.raises(DocumentError, match=r"menu\.html"):
        parse_html(html, "menu.html")


STEPS_PAGE = """<html><body><main><h1>Setup</h1>
<p>Some context first. To get it running:</p>
<ol>
<li><p>Clone the repo:</p>
<div class="sourceCode"><pre><code>git clone https://example.com/bot
cd bot</code></pre></div></li>
<li><p>Write the config file.</p></li>
</ol>
<h2>Settings</h2>
<table><tr><th>Name</th><th>Default</th></tr><tr><td>port</td><td>8080</td></tr></table>
<ol start="3">
<li><p>Run the bot:</p>
<p><strong>Without Docker:</strong></p><pre><code>python bot.py</code></pre>
<p><strong>With Docker:</strong></p><pre><code>docker compose up</code></pre></li>
</ol>
</main></body></html>"""


def test_steps_keep_their_commands_and_go_on_after_a_break():
    """A step's command (even wrapped in a div) is a code unit in the step's block, introduced by the
    step or by its own label; a list starting at 3 goes on with the steps that a heading broke off."""
    doc = parse_html(STEPS_PAGE)
    assert_exact(doc)
    units = {u.text: u for u in doc.units}
    clone, command = units["Clone the repo:"], units["git clone https://example.com/bot\ncd bot"]
    assert clone.kind == "step" and clone.context == "To get it running:"
    assert command.kind == "code" and command.context == "Clone the repo:"
    assert "git clone" not in clone.text
    run = next(u for u in doc.units if u.text.startswith("Run the bot:"))
    assert run.kind == "step" and run.context == "To get it running:"
    assert run.block == clone.block == command.block
    assert units["docker compose up"].context == "With Docker:"
    assert units["python bot.py"].context == "Without Docker:"
    assert units["port | 8080"].block != clone.block


def test_docs_site_permalinks_and_unrendered_lists():
    """Sphinx and MkDocs put a permalink after each heading; it is no part of the section path. A
    list typed as lines of one paragraph (MkDocs didn't render it) is a list, and a paragraph that
    goes on after a colon is content however it ends; a byline is not."""
    page = """<html><body><div class="body">
    <h1>Guide<a class="headerlink" href="#guide" title="Link to this heading">¶</a></h1>
    <h2 id="models">Models ¶</h2>
    <p>The bot supports remote models from:
    - OpenRouter
    - <a href="https://openai.com">OpenAI</a></p>
    <p>Posted by the team</p>
    <p>Local servers: LM Studio and Ollama</p>
    <p>Models are configured in the settings file.</p>
    </div></body></html>"""
    doc = parse_html(page)
    assert_exact(doc)
    assert [(u.kind, u.text, u.context) for u in doc.units] == [
        ("sentence", "The bot supports remote models from:", None),
        ("list_item", "OpenRouter", "The bot supports remote models from:"),
        ("list_item", "OpenAI", "The bot supports remote models from:"),
        ("sentence", "Local servers: LM Studio and Ollama", None),
        ("sentence", "Models are configured in the settings file.", None),
    ]
    assert doc.units[0].section == ("Guide", "Models")


def test_a_heading_that_is_its_own_anchor_link_keeps_its_words():
    """Some sites make the whole heading the permalink (<a class="anchor">Installation</a>)."""
    page = '<main><h2><a class="anchor" href="#i">Installation</a></h2><p>Run the installer first.</p></main>'
    doc = parse_html(page)
    assert doc.units[0].section == ("Installation",)


def test_deep_nesting_inside_a_list_item_is_no_traceback():
    """Thousands of nested elements inside an item stop at the depth limit instead of recursing on."""
    page = "<main><ul><li>Item text here" + "<div>" * 3000 + "<pre>code()</pre>" + "</div>" * 3000
    page += "</li></ul><p>A sentence after the list.</p></main>"
    doc = parse_html(page)
    assert_exact(doc)
    assert ("sentence", "A sentence after the list.") in rows(doc)
