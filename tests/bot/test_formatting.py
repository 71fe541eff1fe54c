"""Replies always fit Discord's limits, split at sentence boundaries, and show sources safely."""

from __future__ import annotations

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.formatting import (
    EMBED_TOTAL_LIMIT,
    MESSAGE_LIMIT,
    REFUSAL,
    answer_replies,
    citation_field,
    lines_embed,
    source_label,
    split_markdown,
    split_text,
    trim,
)
from retrieval import Answer, Citation

SENTENCE = "North Korean soldiers entered eastern Russia earlier this month. "


def citation(n: int, text: str, title: str = "A title", source: str = "/srv/docs/report.txt") -> Citation:
    return Citation(
        n=n, doc_id="report", source=source, title=title, start=0, end=len(text), text=text, score=1.0
    )


def assert_within_limits(embed: discord.Embed) -> None:
    assert len(embed.title or "") <= 256
    assert len(embed.description or "") <= 4096
    assert len(embed.fields) <= 25
    for f in embed.fields:
        assert 0 < len(f.name or "") <= 256 and 0 < len(f.value or "") <= 1024
    assert len(embed) <= EMBED_TOTAL_LIMIT


def test_long_text_splits_at_sentence_boundaries_within_the_limit() -> None:
    """A 10,000-character answer becomes messages of at most 2,000 characters, each ending a sentence."""
    parts = split_text((SENTENCE + "[1] ") * 150)
    assert len(parts) > 4
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert all(p.endswith("[1]") for p in parts)


def test_text_without_sentence_breaks_still_splits() -> None:
    """A single 5,000-character word is cut hard rather than rejected."""
    parts = split_text("x" * 5000)
    assert [len(p) for p in parts] == [2000, 2000, 1000]


def test_trim_ends_at_a_sentence_with_an_ellipsis() -> None:
    """Trimming keeps whole sentences and marks the cut."""
    assert trim(SENTENCE * 3, 100) == SENTENCE.strip() + "…"


@settings(max_examples=60, deadline=None)
@given(
    n_citations=st.integers(1, 60),
    sentence_len=st.integers(1, 3000),
    title_len=st.integers(1, 400),
)
def test_any_answer_fits_discord_limits(n_citations: int, sentence_len: int, title_len: int) -> None:
    """Whatever the number and length of citations, every message and embed is within Discord's limits."""
    text = ("Word " * sentence_len)[:sentence_len].strip() or "W"
    cites = [citation(i, f"{text} *{i}*", title="T" * title_len) for i in range(1, n_citations + 1)]
    answer = Answer(
        question="q", answer=" ".join(f"{c.text} [{c.n}]" for c in cites), refused=False, citations=cites
    )
    replies = answer_replies(answer)
    shown: set[str] = set()
    for r in replies:
        assert r.content is None or 0 < len(r.content) <= MESSAGE_LIMIT
        assert len(r.embeds) <= 10 and sum(len(e) for e in r.embeds) <= EMBED_TOTAL_LIMIT
        for e in r.embeds:
            assert_within_limits(e)
            shown |= {f.name.split("]")[0] + "]" for f in e.fields if f.name}
    assert shown == {f"[{i}]" for i in range(1, n_citations + 1)}


def test_refusal_is_one_plain_message_without_sources() -> None:
    """A refused answer is the plain refusal sentence, with no embed."""
    replies = answer_replies(Answer(question="q", answer="The documents don't say.", refused=True))
    assert len(replies) == 1 and replies[0].content == REFUSAL and not replies[0].embeds


def test_url_sources_are_links_and_file_sources_are_names_not_paths() -> None:
    """A web source becomes a markdown link; a file source shows its name only, never the server's path."""
    assert (
        source_label("https://example.org/news/a_(b)")
        == "[example.org/news/a\\_(b)](https://example.org/news/a_%28b%29)"
    )
    assert source_label("/home/bot/index/uploads/1/abc.txt") == "abc.txt"


def test_sources_list_is_trimmed_with_a_count_of_the_rest() -> None:
    """A long document list fits one embed description and says how many were left out."""
    lines = [f"• **Document {i}** — file{i}.txt (12 sentences)" for i in range(500)]
    embed = lines_embed("Documents", [("Shared", lines)], empty="none")
    assert_within_limits(embed)
    assert "… and " in (embed.description or "") and "more" in (embed.description or "")


def test_mentions_are_removed_from_questions() -> None:
    """User, role and channel mentions and @everyone/@here are addressing, not words to search for."""
    from bot.exts.ask import question_text

    assert question_text("<@123> @everyone <@!4> <@&5> <#6> @here How many soldiers?") == "How many soldiers?"


# Readable citations ----------------------------------------------------------------------------------------

README_SOURCE = "/srv/index/uploads/1/README.md"


def md_citation(n: int, text: str, **fields: object) -> Citation:
    return Citation(
        n=n, doc_id="README", source=README_SOURCE, title="citebot", start=0, end=len(text), text=text,
        score=1.0, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def fences_balanced(text: str) -> bool:
    return text.count("```") % 2 == 0


def test_a_field_shows_the_section_path_and_the_rendered_text() -> None:
    """The field name carries the section path; a Markdown link shows its words, never its address."""
    c = md_citation(
        1,
        "Get [LM Studio](https://lmstudio.ai) and run `citebot ask`.",
        section=["citebot", "Install", "Models"],
    )
    name, value = citation_field(c)
    assert name == "[1] citebot › Install › Models"
    assert value.startswith("> Get LM Studio and run `citebot ask`.")
    assert "lmstudio.ai" not in value and value.endswith("— README.md")


def test_a_table_row_reads_under_its_header_and_a_list_item_under_its_lead_in() -> None:
    """A row reads "Column: value"; a list item shows its lead-in in italics above the quote."""
    row = md_citation(1, "| `pip` | 24.0 |", kind="table_row", context="| Tool | Version |")
    assert citation_field(row)[1].split("\n")[0] == "> Tool: `pip`; Version: 24.0"
    item = md_citation(2, "Python 3.11 or **newer**", kind="list_item", context="You need:")
    assert citation_field(item)[1].split("\n")[:2] == ["*You need:*", "> Python 3.11 or newer"]


def test_a_pdf_citation_names_its_page() -> None:
    """A citation from a paged document says which page it is on."""
    c = Citation(
        n=1, doc_id="manual", source="/srv/manual.pdf", title="Manual", start=0, end=5, text="Press",
        score=1.0, page=12,
    )  # fmt: skip
    assert citation_field(c)[1].endswith("— manual.pdf · page 12")


def test_document_markdown_is_inert_but_code_stays_code() -> None:
    """Stray asterisks, underscores and mentions are escaped text; a code span is shown unescaped."""
    c = md_citation(1, "Use `rm -rf *_tmp` then @everyone says 2 \\* 3 and snake\\_case.")
    value = citation_field(c)[1]
    assert "`rm -rf *_tmp`" in value
    assert "2 \\* 3" in value and "snake\\_case" in value


def test_code_blocks_are_fenced_and_stay_closed_when_cut() -> None:
    """A cited block is a code block; an over-long one is cut inside the fence, which still closes."""
    block = md_citation(1, "pip install citebot\n   citebot ingest docs/", kind="code")
    value = citation_field(block)[1]
    assert value.startswith("```\npip install citebot\ncitebot ingest docs/\n```\n— ")
    long = md_citation(2, "\n".join(f"echo line {i} ```" for i in range(400)), kind="code")
    value = citation_field(long)[1]
    assert len(value) <= 1024 and fences_balanced(value) and "…" in value


def test_an_answer_quoting_code_splits_without_breaking_fences() -> None:
    """An answer with a long code block splits into messages that each open and close their fences."""
    code = "\n".join(f"step {i}: run the thing with care" for i in range(200))
    c = md_citation(1, code, kind="code")
    replies = answer_replies(
        Answer(question="q", answer=f"Do this: {code} [1]", refused=False, citations=[c])
    )
    texts = [r.content for r in replies if r.content]
    assert len(texts) > 1
    assert all(len(t) <= MESSAGE_LIMIT and fences_balanced(t) for t in texts)
    assert texts[0].startswith("Do this:") and texts[-1].rstrip().endswith("[1]")


def test_split_markdown_never_cuts_inside_a_code_span() -> None:
    """Cuts fall outside inline code while a cut elsewhere will do."""
    text = ("Run `pip install --upgrade citebot now please` today. " * 60).strip()
    parts = split_markdown(text, 300)
    assert all(p.count("`") % 2 == 0 and len(p) <= 300 for p in parts)


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["sentence", "list_item", "table_row", "code", "step"]), min_size=1, max_size=12
    ),
    body=st.text(alphabet="ab `*_|\n#>-[]()@", min_size=1, max_size=1500),
    section=st.lists(st.text(min_size=1, max_size=300), max_size=5),
)
def test_any_markdown_citation_fits_discord_limits(kinds: list[str], body: str, section: list[str]) -> None:
    """Citations of any kind with any markup and section path fit every embed limit, fences closed."""
    body = body if body.strip() else "x"
    cites = [
        md_citation(i, body, kind=k, section=section, context="| A | B |" if k == "table_row" else "Lead:")
        for i, k in enumerate(kinds, start=1)
    ]
    answer = Answer(
        question="q", answer=" ".join(f"{c.text} [{c.n}]" for c in cites), refused=False, citations=cites
    )
    for r in answer_replies(answer):
        assert r.content is None or (0 < len(r.content) <= MESSAGE_LIMIT and fences_balanced(r.content))
        for e in r.embeds:
            assert_within_limits(e)
            assert all(fences_balanced(f.value or "") for f in e.fields)
