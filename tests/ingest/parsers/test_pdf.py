from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.errors import DocumentError
from retrieval.ingest.loaders import parse
from retrieval.ingest.parsers.pdf import parse_pdf
from retrieval.ingest.parsers.units import lead_in_of

from .conftest import assert_exact, rows
from .pdfmaker import Placed, make_pdf

PAGES = [
    ["ACME Manual", "Getting started", "The widget needs a power sup-", "ply of five volts.",
     "To install it:", "1. Unpack the box.", "2. Plug it in.", "Page 1 of 2"],
    ["ACME Manual", "It runs for ten hours on one charge.", "Page 2 of 2"],
]  # fmt: skip


def test_pdf_units_pages_and_mended_words():
    """Running headers and page numbers go, a hyphenated word is joined, each unit knows its page."""
    doc = parse_pdf(make_pdf(PAGES), "manual.pdf")
    assert_exact(doc)
    assert rows(doc) == [
        ("sentence", "The widget needs a power supply of five volts."),
        ("sentence", "To install it:"),
        ("step", "Unpack the box."),
        ("step", "Plug it in."),
        ("sentence", "It runs for ten hours on one charge."),
    ]
    assert [u.page for u in doc.units] == [1, 1, 1, 1, 2]
    assert "ACME Manual" not in doc.text and "Page" not in doc.text
    assert doc.units[2].context == "To install it:"
    assert doc.units[0].section == ("Getting started",)


def test_pdf_without_text_layer_is_a_document_error():
    """A scanned PDF (no text) gives a DocumentError that names it and says to OCR it."""
    with pytest.raises(DocumentError, match=r"scan\.pdf.*no text layer"):
        parse_pdf(make_pdf([["x"]], text_layer=False), "scan.pdf")


def test_not_a_pdf_is_a_document_error():
    """Bytes that are not a PDF give a DocumentError from the registry's parse, not a pypdf traceback."""
    with pytest.raises(
        DocumentError, match=r"^junk\.pdf: not a readable PDF: damaged.*PdfStreamError.*; skipped$"
    ):
        parse(b"this is not a pdf at all", "junk.pdf", ".pdf")


LONG_1 = "The bot answers questions about your documents and cites the text behind every"
LONG_2 = "answer, so that each claim can be checked against the page it came from today."

# A page as a browser prints it: headings larger or bold, bullets drawn (not text), code in Courier,
# a table whose cells line up, and paragraphs apart by a wider gap than their lines.
BROWSER_PAGE = [
    Placed("Quick guide", "Helvetica-Bold", 20, gap=20),
    Placed(LONG_1, gap=30),
    Placed(LONG_2),
    Placed("It works with local servers:", gap=24),
    Placed("LM Studio", x=102, gap=16),
    Placed("Ollama", x=102),
    Placed("vLLM, which is the fastest of the three on a machine that has a large GPU and", x=102),
    Placed("plenty of memory", x=102),
    Placed("Installation", "Helvetica-Bold", 16, gap=30),
    Placed("Clone the repository:", gap=24),
    Placed("git clone https://example.com/bot", "Courier", 10, gap=20),
    Placed("cd bot", "Courier", 10, gap=12),
    Placed("Settings", "Helvetica-Bold", 16, gap=30),
    Placed("Name", "Helvetica-Bold", gap=24, cells=((250, "Default"),)),
    Placed("max_messages", gap=16, cells=((250, "25"),)),
    Placed("allow_dms", gap=16, cells=((250, "true"),)),
    Placed("status_message", gap=16, cells=((250, "none"),)),
    Placed("Lookups", "Helvetica-Bold", 16, gap=30),
    Placed("Use one of the following functions:", gap=24),
    Placed("Client.get_user", "Courier", 10, x=102, gap=16),
    Placed("Client.get_channel", "Courier", 10, x=102, gap=12),
    Placed(LONG_1, gap=24),
    Placed(LONG_2),
]


def test_pdf_layout_gives_headings_lists_code_and_table_rows():
    """Fonts, indents and gaps give the structure that a printed web page's text alone doesn't."""
    doc = parse_pdf(make_pdf([BROWSER_PAGE]), "guide.pdf")
    assert_exact(doc)
    kinds = [(u.kind, u.text) for u in doc.units]
    assert ("list_item", "LM Studio") in kinds
    assert ("list_item", "Ollama") in kinds
    wrapped = "vLLM, which is the fastest of the three on a machine that has a large GPU and plenty of memory"
    assert ("list_item", wrapped) in kinds
    by_text = {u.text: u for u in doc.units}
    assert by_text["LM Studio"].context == "It works with local servers:"
    assert by_text["LM Studio"].section == ("Quick guide",)
    code = by_text["git clone https://example.com/bot\ncd bot"]
    assert code.kind == "code" and code.section == ("Quick guide", "Installation")
    assert [(u.kind, u.text, u.context) for u in doc.units if u.kind == "table_row"] == [
        ("table_row", "max_messages 25", "Name Default"),
        ("table_row", "allow_dms true", "Name Default"),
        ("table_row", "status_message none", "Name Default"),
    ]
    # One-word code lines under a lead-in are the items it announces, not a code block.
    assert by_text["Client.get_user"].kind == "list_item"
    assert by_text["Client.get_user"].context == "Use one of the following functions:"
    # The paragraph's two lines are one sentence, and the gap after it ends it.
    assert by_text[f"{LONG_1} {LONG_2}"].kind == "sentence"
    assert by_text["It works with local servers:"].kind == "sentence"
    assert not any(u.text.startswith(("Quick guide", "Installation", "Settings")) for u in doc.units)


def test_pdf_numbered_steps_keep_their_commands_and_blocks_go_on_across_pages():
    """A command under a step joins the step's block; a paragraph split by a page break is one unit."""
    pages = [
        [
            Placed("Setup", "Helvetica-Bold", 18, gap=20),
            Placed("1. Clone the repo:", gap=30),
            Placed("git clone https://example.com/bot", "Courier", 10, x=90, gap=18),
            Placed("2. Run the bot.", gap=24),
            Placed(LONG_1, gap=30),
        ],
        [Placed(LONG_2, gap=20)],
    ]
    doc = parse_pdf(make_pdf(pages), "setup.pdf")
    assert_exact(doc)
    step1, command, step2 = (u for u in doc.units if u.kind in ("step", "code"))
    assert (step1.text, command.text, step2.text) == (
        "Clone the repo:",
        "git clone https://example.com/bot",
        "Run the bot.",
    )
    assert step1.block == command.block == step2.block
    paragraph = doc.units[-1]
    assert paragraph.text == f"{LONG_1} {LONG_2}" and paragraph.page == 1


def test_a_list_is_introduced_by_the_last_sentence_of_its_paragraph():
    """The items' context is the sentence ending in ":", not the whole paragraph before it."""
    page = [
        Placed("There are several ways. If you have an ID, use one of these:", gap=20),
        Placed("get_user", x=110, gap=16),
        Placed("get_channel", x=110),
        Placed(LONG_1, gap=24),
        Placed(LONG_2),
    ]
    doc = parse_pdf(make_pdf([page]), "ids.pdf")
    items = [u for u in doc.units if u.kind == "list_item"]
    assert [u.text for u in items] == ["get_user", "get_channel"]
    assert {u.context for u in items} == {"If you have an ID, use one of these:"}
    assert lead_in_of("No colon at the end.") is None


def test_a_table_goes_on_over_a_page_break_without_its_repeated_header():
    """A browser repeats a table's header on each page: the rows after it go on with the same table."""
    header = Placed("Name", "Helvetica-Bold", gap=24, cells=((250, "Default"),))
    names = [("port", "8080"), ("workers", "4"), ("timeout", "30 s"), ("log_level", "info")]
    rows = [Placed(name, gap=16, cells=((250, value),)) for name, value in names]
    first = [Placed("Settings", "Helvetica-Bold", 16, gap=20), Placed(LONG_1, gap=24), Placed(LONG_2), header]
    pages = [[*first, *rows[:3]], [header, rows[3], Placed(LONG_1, gap=30), Placed(LONG_2)]]
    doc = parse_pdf(make_pdf(pages), "settings.pdf")
    table = [u for u in doc.units if u.kind == "table_row"]
    assert [(u.text, u.context, u.page) for u in table] == [
        ("port 8080", "Name Default", 1),
        ("workers 4", "Name Default", 1),
        ("timeout 30 s", "Name Default", 1),
        ("log_level info", "Name Default", 2),
    ]
    assert len({u.block for u in table}) == 1
    assert table[0].block != doc.units[0].block
    assert "Name Default" not in [u.text for u in doc.units]


def test_pdf_steps_numbered_on_after_a_heading_are_one_series():
    """ "3." after a heading that broke off "1." and "2." goes on with them; a new "1." starts anew."""
    page = [
        Placed("Setup", "Helvetica-Bold", 18, gap=20),
        Placed("To install the bot:", gap=30),
        Placed("1. Clone the repository.", gap=20),
        Placed("2. Write the config file.", gap=16),
        Placed("Settings", "Helvetica-Bold", 14, gap=30),
        Placed("3. Run the bot.", gap=24),
        Placed(LONG_1, gap=30),
        Placed(LONG_2),
        Placed("1. Unrelated first item.", gap=24),
        Placed("2. Unrelated second item.", gap=16),
    ]
    doc = parse_pdf(make_pdf([page]), "setup.pdf")
    units = {u.text: u for u in doc.units}
    first, third = units["Clone the repository."], units["Run the bot."]
    assert third.kind == "step" and third.context == "To install the bot:"
    assert third.block == first.block
    assert units["Unrelated first item."].block != first.block


def test_a_table_row_with_a_wrapped_cell_is_one_row():
    """A word processor draws a wrapped cell's lines, then the row's next cell back up beside them."""
    page = [
        Placed("Providers", "Helvetica-Bold", 16, gap=20),
        Placed(LONG_1, gap=24),
        Placed(LONG_2),
        Placed("Provider", "Helvetica-Bold", gap=24, cells=((250, "Python"),)),
        Placed("Cloudflare Workers", gap=18),
        Placed("AI", gap=14),
        Placed("yes", x=250, gap=-14),
        Placed("Cohere", gap=18, cells=((250, "yes"),)),
        Placed("Hugging Face", gap=18, cells=((250, "no"),)),
        Placed("Jina", gap=18, cells=((250, "yes"),)),
        Placed(LONG_1, gap=30),
        Placed(LONG_2),
    ]
    doc = parse_pdf(make_pdf([page]), "providers.pdf")
    assert_exact(doc)
    assert [(u.text, u.context) for u in doc.units if u.kind == "table_row"] == [
        ("Cloudflare Workers AI yes", "Provider Python"),
        ("Cohere yes", "Provider Python"),
        ("Hugging Face no", "Provider Python"),
        ("Jina yes", "Provider Python"),
    ]
    assert doc.units[-1].kind == "sentence" and doc.units[-1].text == f"{LONG_1} {LONG_2}"


def test_a_page_whose_layout_cannot_be_measured_is_read_as_text(monkeypatch):
    """When pypdf's layout report fails on a page, its text is still read (without layout)."""
    from retrieval.ingest.parsers import pdf_lines

    def broken(text, cm, tm, font, size):
        raise ValueError("a matrix pypdf can read but not measure")

    monkeypatch.setattr(pdf_lines, "_piece", broken)
    doc = parse_pdf(make_pdf(PAGES), "manual.pdf")
    assert_exact(doc)
    assert ("step", "Plug it in.") in rows(doc)


def test_a_name_broken_at_its_own_hyphen_keeps_it():
    """ "sup-" + "ply" is one word; "msmarco-" + "distilbert-base" keeps its real hyphen."""
    lines = ["The model msmarco-", "distilbert-base-tas-b needs a power sup-", "ply of five volts."]
    doc = parse_pdf(make_pdf([lines]), "models.pdf")
    assert rows(doc) == [
        ("sentence", "The model msmarco-distilbert-base-tas-b needs a power supply of five volts.")
    ]


_WORDS = st.sampled_from(
    ["Install", "the", "bot", "1.", "-", "•", "port", "8080", "run:", "Setup", "x_y", "sup-", "ply."]
)
_LINE = st.builds(
    Placed,
    text=st.lists(_WORDS, min_size=1, max_size=8).map(" ".join),
    font=st.sampled_from(["Helvetica", "Helvetica-Bold", "Courier"]),
    size=st.sampled_from([9, 11, 14, 20]),
    x=st.sampled_from([72, 90, 110, 250]),
    gap=st.sampled_from([-14, 0, 12, 14, 16, 24, 40]),
    cells=st.lists(st.tuples(st.sampled_from([250, 330]), _WORDS), max_size=2).map(tuple),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_LINE, min_size=1, max_size=25), min_size=1, max_size=3))
def test_any_layout_gives_exact_units_or_a_document_error(pages):
    """Whatever the fonts, indents, gaps and cells, units are exact slices, each with a valid page."""
    try:
        doc = parse_pdf(make_pdf(pages), "generated.pdf")
    except DocumentError:
        return  # nothing citable (every line furniture or a bare number)
    assert_exact(doc)
    assert all(1 <= (u.page or 0) <= len(pages) for u in doc.units)


def test_matrices_without_a_finite_size_or_place_are_read_as_text():
    """A page drawn through an enormous transformation still gives its text, or a clear DocumentError."""
    lines = ["The widget needs a power supply of five volts and it runs for ten hours.", "It ships today."]
    for prefix in ("1e38 0 0 1e38 0 0 cm " * 9, "1e38 0 0 1e38 0 0 cm " * 9 + "0 0 0 0 0 0 cm"):
        try:
            doc = parse_pdf(make_pdf([lines], prefix=prefix), "huge.pdf")
        except DocumentError:
            continue
        assert_exact(doc)


OCR_PROSE = (
    "the bot answers questions about your documents and cites the text behind every answer so that "
    "each claim can be checked against the page it came from while questions that the documents "
    "cannot answer are refused with a short reason instead of a guess and sources stay in sync when "
    "files change on disk or pages change on the web the index follows them within a minute or two"
)


def test_words_placed_one_by_one_are_prose_not_a_table():
    """OCR text layers place each word by itself. Now and then a word starts where one on the line
    above did, but most of a line's pieces don't line up with the next line's: no table, a paragraph."""
    text = OCR_PROSE.split()
    page: list[Placed] = [Placed("Notes", "Helvetica-Bold", 16, gap=20)]
    for n in range(0, len(text), 10):
        words, xs, x = text[n : n + 10], [], 72.0
        for word in words:
            xs.append(x)
            x += (len(word) + 1) * 0.5 * 11
        cells = tuple(zip(xs[1:], words[1:], strict=True))
        page.append(Placed(words[0], gap=24 if n == 0 else 14, cells=cells))
    doc = parse_pdf(make_pdf([page]), "scan-ocr.pdf")
    assert {u.kind for u in doc.units} == {"sentence"}


def test_sentences_of_a_paragraph_over_a_page_break_keep_their_own_pages():
    """A paragraph goes on over the page break; each sentence has the page it starts on."""
    pages = [
        [
            "Getting started",
            "The widget needs a power supply of five volts today.",
            "It runs for ten hours on",
        ],
        ["one charge of its battery pack. It ships in a box.", "Page 2 of 2"],
    ]
    doc = parse_pdf(make_pdf(pages), "manual.pdf")
    assert [(u.text, u.page) for u in doc.units] == [
        ("The widget needs a power supply of five volts today.", 1),
        ("It runs for ten hours on one charge of its battery pack.", 1),
        ("It ships in a box.", 2),
    ]


def test_pdf_numbering_starts_anew_in_the_next_section_of_the_same_rank():
    """Steps 1-2 under one heading; a "3." under the next heading of the same rank is not their step 3."""
    page = [
        Placed("Install", "Helvetica-Bold", 18, gap=20),
        Placed("1. Clone the repository.", gap=30),
        Placed("2. Write the config file.", gap=16),
        Placed("Usage", "Helvetica-Bold", 18, gap=30),
        Placed("3. Run the bot.", gap=24),
        Placed(LONG_1, gap=30),
        Placed(LONG_2),
    ]
    doc = parse_pdf(make_pdf([page]), "setup.pdf")
    units = {u.text: u for u in doc.units}
    assert units["Run the bot."].block != units["Clone the repository."].block


def _encrypted(user_password: str) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PAGES))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_encrypted_for_permissions_only_is_read():
    """AES with an empty user password (common for 'no copying' PDFs) needs no password to read."""
    doc = parse(_encrypted(""), "locked.pdf", ".pdf")
    assert doc.units and doc.units[0].text == parse_pdf(make_pdf(PAGES), "plain.pdf").units[0].text


def test_a_pdf_that_needs_a_password_is_skipped_with_that_reason():
    """A PDF that can't be opened without its password is a skip that says so."""
    with pytest.raises(DocumentError, match=r"secret\.pdf: the PDF is encrypted with a password"):
        parse(_encrypted("hunter2"), "secret.pdf", ".pdf")
