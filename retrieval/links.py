"""Links back to cited text: a web page's sentence as a text fragment, a PDF's page, a message's own link.

A citation that only named a web page would send the reader hunting; a text fragment
(``#:~:text=``, https://wicg.github.io/scroll-to-text-fragment/) makes the browser scroll to the quote
and highlight it. The rule is a pure function of a unit's stored fields, so it lives at the bottom of
the package with the models, apart from the web sources that fetch pages: the answer makes each
citation's link with it where it makes the citation (``answer/extractive.py``), from the unit's own link
and its document's address that the evidence carries, and every front end links the same way.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

log = logging.getLogger(__name__)

#: Quotes longer than this many words are linked by their first and last words (``textStart,textEnd``):
#: a long directive makes an unwieldy link, and a browser matches the range just as well.
LONG_QUOTE_WORDS = 10
#: Words kept at each end of a long quote's range.
RANGE_WORDS = 4


def encode_directive_text(text: str) -> str:
    """Percent-encode a text directive's term: everything but unreserved characters, and ``-`` too.

    The directive's syntax gives ``,`` ``-`` and ``&`` meaning, so they must never appear bare;
    ``quote`` with nothing safe leaves only ``A-Z a-z 0-9 _ . ~`` and ``-``, which is encoded by hand.
    """
    return quote(text, safe="").replace("-", "%2D")


def text_fragment(text: str) -> str | None:
    """The ``text=`` directive that highlights ``text`` (whitespace runs read as one space), or None."""
    words = text.split()
    if not words:
        return None
    if len(words) > LONG_QUOTE_WORDS:
        start = encode_directive_text(" ".join(words[:RANGE_WORDS]))
        end = encode_directive_text(" ".join(words[-RANGE_WORDS:]))
        return f"text={start},{end}"
    return "text=" + encode_directive_text(" ".join(words))


def with_text_fragment(url: str, text: str) -> str:
    """``url`` with a fragment directive highlighting ``text``; a fragment it had is kept before it."""
    base, _, fragment = url.partition("#")
    fragment = fragment.split(":~:", 1)[0]  # an earlier directive would be replaced, not stacked
    directive = text_fragment(text)
    if directive is None:
        return url
    return f"{base}#{fragment}:~:{directive}"


def citation_url(unit_url: str | None, doc_url: str | None, text: str, page: int | None = None) -> str | None:
    """Where a citation links: the unit's own link, else its document's, pointed at the quote.

    A PDF's unit links to its page (``#page=N``, which PDF viewers follow; they ignore text fragments);
    any other web document links with a text fragment.
    """
    if unit_url:
        return unit_url
    if not doc_url:
        return None
    if page is not None:
        return f"{doc_url.partition('#')[0]}#page={page}"
    return with_text_fragment(doc_url, text)
