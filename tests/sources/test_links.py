"""Citation links: text fragments for web pages, pages for PDFs, a unit's own link, and how they show."""

from __future__ import annotations

from urllib.parse import unquote

from bot.formatting import citation_field
from retrieval.cli import _format_source
from retrieval.links import citation_url, text_fragment, with_text_fragment
from retrieval.models import Answer, Citation

PAGE = "https://docs.example.org/guide.html"


def _citation(**fields: object) -> Citation:
    base: dict[str, object] = {
        "n": 1,
        "doc_id": "guide",
        "source": PAGE,
        "title": "Guide",
        "start": 10,
        "end": 40,
        "text": "Widgets sort files.",
        "score": 0.9,
    }
    return Citation.model_validate(base | fields)


def test_a_short_quote_is_one_percent_encoded_term() -> None:
    """Whitespace collapses to one space; ',', '-', '&' and non-ASCII are percent-encoded, never bare."""
    directive = text_fragment("Cost: 5 - 10 €,\n  daily & more")
    assert directive == "text=Cost%3A%205%20%2D%2010%20%E2%82%AC%2C%20daily%20%26%20more"
    assert unquote(directive.removeprefix("text=")) == "Cost: 5 - 10 €, daily & more"


def test_a_long_quote_is_a_range_of_its_first_and_last_words() -> None:
    """Over ten words, the directive is textStart,textEnd: four words from each end."""
    quote = "The committee met in Lisbon in March and announced a record harvest of zorblatt."
    assert text_fragment(quote) == "text=The%20committee%20met%20in,record%20harvest%20of%20zorblatt."


def test_a_fragment_the_url_had_is_kept_and_an_old_directive_replaced() -> None:
    """An anchor stays before the directive; a previous text directive is not stacked."""
    assert with_text_fragment(PAGE + "#install", "Run it.") == PAGE + "#install:~:text=Run%20it."
    assert with_text_fragment(PAGE + "#:~:text=old", "New") == PAGE + "#:~:text=New"
    assert with_text_fragment(PAGE, "  ") == PAGE


def test_which_link_a_citation_gets() -> None:
    """A unit's own link wins; a web page links at the quote; a PDF at its page; a file has none."""
    jump = "https://discord.com/channels/1/2/3"
    assert citation_url(jump, PAGE, "Hello there.") == jump
    assert citation_url(None, PAGE, "Hello there.") == PAGE + "#:~:text=Hello%20there."
    assert citation_url(None, "https://x.org/a.pdf", "Hi.", page=3) == "https://x.org/a.pdf#page=3"
    assert citation_url(None, None, "Hello there.") is None


def test_json_answers_carry_the_url() -> None:
    """`citebot ask --json` citations have a `url` key: the link, or null for a local file."""
    answer = Answer(
        question="q",
        answer="a",
        refused=False,
        citations=[_citation(url=PAGE + "#:~:text=x"), _citation(n=2, source="/d/a.txt")],
    )
    citations = answer.to_json_dict()["citations"]
    assert isinstance(citations, list)
    assert [c["url"] for c in citations] == [PAGE + "#:~:text=x", None]


def test_the_cli_shows_a_web_citation_at_its_quote_and_a_message_link_on_its_own_line() -> None:
    """A web page's address is replaced by its link at the quote; another link follows the source line."""
    web = _format_source(_citation(url=PAGE + "#:~:text=Widgets%20sort%20files."))
    assert web[-1] == f"    — Guide ({PAGE}#:~:text=Widgets%20sort%20files., characters 10–40)"
    jump = "https://discord.com/channels/1/2/3"
    message = _format_source(_citation(source="#general", url=jump))
    assert message[-2:] == ["    — Guide (#general, characters 10–40)", f"    {jump}"]
    plain = _format_source(_citation(source="/nowhere/a.txt"))
    assert plain[-1] == "    — Guide (/nowhere/a.txt, characters 10–40)"


def test_discord_shows_the_source_name_as_a_link_to_the_citation() -> None:
    """In the bot, the source's name links to the citation's url (a message's jump link, a quote)."""
    jump = "https://discord.com/channels/1/2/3"
    _, value = citation_field(_citation(source="#general", url=jump))
    assert value.endswith(f"— [\\#general]({jump})")  # the name escaped, the link intact
    _, value = citation_field(_citation(url=PAGE + "#:~:text=Widgets%20sort%20files."))
    assert value.endswith(f"— [docs.example.org/guide.html]({PAGE}#:~:text=Widgets%20sort%20files.)")
    _, value = citation_field(_citation(source="/d/notes.txt"))
    assert value.endswith("— notes.txt")
