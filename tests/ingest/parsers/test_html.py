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
