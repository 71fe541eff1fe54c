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
    lines_embed,
    source_label,
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
