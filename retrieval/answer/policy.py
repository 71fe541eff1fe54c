"""The answer policy: whether ranked evidence is good enough to answer from, and which sentences to cite.

This is the one place that decides. The extractive answer quotes what it chooses; the language-model
path refuses when it refuses and falls back to quoting what it chooses; tuning scores cached
candidates through the same two functions, so the numbers ``tune`` reports are those of the chain.

Refusal: the best sentence's support (its dense similarity plus ``coverage_weight`` times the share of
the question's IDF-weighted terms found in it and its neighbours) must reach ``min_support``; and the
question must not name someone or something the best document never mentions, because then the
documents are about something else, however close the topic. Citations: the best sentences, until
the ranker is ``citation_confidence`` sure the evidence is among them, at most ``max_citations``: a clear
winner is cited alone, and when the ranker hesitates a second quote serves better than a wrong one.

Answers are shaped like their evidence: a question asking for a set ("which ...", "list ...") whose
best unit is a list item or a list's lead-in cites the lead-in and the list's items in document order;
a how-to question whose best unit is a step or a command cites the steps of that block with their
commands, and one on a line of a snippet whose comments number its steps ("# 1. Load", "# 2. Encode")
cites the whole snippet. A how-to question that quotes the error message its best unit holds is
answered by the list or steps right after that message (the fix), however low they rank. When the best
unit is plain prose, a list or series of steps among the next few candidates
still answers such a question, if the ranker gives it at least ``runner_up_share`` of the best unit's
probability: the sentence that talks about a list often outranks the list's terse lead-in. Bulleted
instructions answer a how-to question as steps do, and a question naming several items of the best
unit's list or table by name ("allow_methods, allow_credentials and max_age") cites each of those, and
one naming the best item alone asks about that item, not for its list. Steps most of which are cases to
pick from ("If on Mac, ...", "If on Windows, ...") lead with the best-matching case. A table
row is cited alone, its header row travelling as the citation's context. A cited row goes before a
sentence cited with it when the question names the row, asks for the best, highest or fastest, or the
sentence only introduces the table (it ends in a colon); a row the question names goes before one it
doesn't. A unit nested in another cited unit (a sentence of a cited item, a line of a cited code block)
is never cited twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..models import Evidence
from ..rank.blocks import SHAPED_BY_RUNNER_UPS, Block, UnitLike
from ..rank.cues import Question
from ..rank.ranker import Retrieved
from ..rank.weights import Thresholds, load_weights
from ..settings import Settings

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitLike)
# Kinds cited as the items of a list, and as the steps of a how-to (with their commands).
_ITEM_KINDS = frozenset({"list_item", "step"})
_STEP_KINDS = frozenset({"step", "code"})
# Kinds whose units a question may name one by one ("allow_methods, allow_credentials and max_age").
_NAMED_KINDS = frozenset({"list_item", "step", "table_row"})


@dataclass(frozen=True)
class Decision:
    """What to do with one question's evidence: the sentences to cite, or why to refuse."""

    cited: list[Evidence]
    reason: str = ""

    @property
    def refused(self) -> bool:
        """True when nothing is to be cited: the answer is a refusal."""
        return not self.cited


@dataclass(frozen=True)
class AnswerPolicy:
    """Refuse-or-answer and citation choice, with thresholds from the weights file.

    Attributes:
        thresholds: ``min_support`` and ``coverage_weight``, fitted with the ranker's weights.
        max_citations: most sentences cited in one answer.
        citation_confidence: cite until the ranker is this sure the evidence is cited.
        max_block_citations: most units cited for a whole list or series of steps.
        runner_up_share: a runner-up's list or steps answer a set or how-to question when its
            probability is at least this share of the best unit's (chosen on docs-dev: 0.05 cost a prose
            question, 0.3 found fewer lists).
    """

    thresholds: Thresholds
    max_citations: int = 2
    citation_confidence: float = 0.95
    max_block_citations: int = 12
    runner_up_share: float = 0.15

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerPolicy:
        """The policy of ``settings``; reads the weights file they name (ConfigurationError if unusable)."""
        return cls(
            thresholds=load_weights(settings.weights_file).thresholds,
            max_citations=settings.max_citations,
            citation_confidence=settings.citation_confidence,
            max_block_citations=settings.max_block_citations,
        )

    def support(self, dense: float, coverage_window: float, reader: float = 0.0) -> float:
        """How well the best sentence supports an answer (compared with ``min_support``)."""
        t = self.thresholds
        return dense + t.coverage_weight * coverage_window + t.reader_weight * reader

    def refusal_reason(
        self,
        *,
        dense: float,
        coverage_window: float,
        unknown_names: Sequence[str],
        reader: float = 0.0,
        across_languages: bool = False,
    ) -> str:
        """Why the best sentence (its raw signals given) can't be answered from; empty when it can.

        ``across_languages``: the sentence is in a language the question is not. Weak support refuses
        only within one language: ``min_support`` was fitted on English, where the question's words found
        in the sentence add to it, while across languages they can't and a translation's cosine is lower.
        There it refused answerable questions only (English questions over Chinese documents: 9.2% with
        the fine-tuned multilingual model, 0% before, when the model's cosines never fell that low).
        """
        support = self.support(dense, coverage_window, reader)
        if support < self.thresholds.min_support and not across_languages:
            return f"the best evidence is weak (support {support:.3f} < {self.thresholds.min_support})"
        if unknown_names:
            return f"the best document never names {', '.join(unknown_names)}"
        return ""

    def citation_count(self, probabilities: Sequence[float]) -> int:
        """How many of the best sentences (their probabilities given, best first) to cite."""
        count, covered = 0, 0.0
        for p in probabilities[: self.max_citations]:
            if count and covered >= self.citation_confidence:
                break
            count += 1
            covered += p
        return count

    def decide(self, retrieved: Retrieved) -> Decision:
        """Answer or refuse ``retrieved``, and choose the sentences to cite."""
        if not retrieved.evidence:
            return Decision([], "nothing in the documents matches the question")
        best = retrieved.evidence[0]
        reason = self.refusal_reason(
            dense=best.dense,
            coverage_window=best.coverage_window,
            unknown_names=retrieved.unknown_names,
            reader=best.reader,
            across_languages=not retrieved.question.may_be_in(best.language),
        )
        if reason:
            log.debug("refusing %r: %s", retrieved.query.question, reason)
            return Decision([], reason)
        return Decision(
            self.choose(
                retrieved.question,
                retrieved.evidence,
                [e.probability for e in retrieved.evidence],
                retrieved.blocks,
            )
        )

    def choose(
        self,
        question: str | Question,
        ranked: Sequence[U],
        probabilities: Sequence[float],
        blocks: Mapping[int, Block[U]],
    ) -> list[U]:
        """The units to cite for ``question``, from its ranked units (best first) and their blocks.

        ``question`` is the ranker's reading of it (``Retrieved.question``), or its text. ``blocks``
        holds the block of each ranked unit that has one, by rank (0: the best). Pure, so ``tune`` scores
        cached candidates with the chain's own choice.
        """
        if not ranked:
            return []
        question = Question.of(question)
        if 0 in blocks and _names_only(question, ranked[0], blocks[0]):
            # "Which headers does allow_headers let through?" asks about one item, not for the list.
            return self._as_ranked(question, ranked, probabilities)
        if 0 in blocks and (shaped := self.shape(question, ranked[0], blocks[0], first=True)):
            return shaped
        # Only a question asking for a set or for steps looks past the best unit (the ranker reads the
        # runner-ups' blocks for those alone; tune, which has every block, must choose the same).
        shapes = question.shapes
        runner_ups = sorted(r for r in blocks if 0 < r < len(ranked)) if SHAPED_BY_RUNNER_UPS & shapes else []
        # "pip install dies with 'Could not build wheels', what can I try?": the code block holding the
        # pasted error ranks first, but the answer is the fix the document gives right after it.
        symptom = "how_to" in shapes and ranked[0].kind == "code" and question.quotes(ranked[0].text)
        fix = _first_after(ranked[0], [ranked[r] for r in runner_ups]) if symptom else None
        floor = self.runner_up_share * probabilities[0]
        for rank in runner_ups:
            if probabilities[rank] < floor and ranked[rank] is not fix:
                if symptom:
                    continue
                break
            shaped = self.shape(question, ranked[rank], blocks[rank])
            # A runner-up answers only as a whole list or series of steps, not as a lone code block.
            if shaped and any(u.kind in _ITEM_KINDS for u in shaped):
                return shaped
        return self._as_ranked(question, ranked, probabilities)

    def _as_ranked(self, question: Question, ranked: Sequence[U], probabilities: Sequence[float]) -> list[U]:
        """The best units as ranked, as many as ``citation_count`` says (an answer not shaped)."""
        n = self.citation_count(probabilities)
        if n < 2:
            return [ranked[0]]
        return _named_row_first(question, outermost(list(ranked[: n + 1]))[:n])

    def shape(self, question: Question, best: U, block: Block[U], *, first: bool = False) -> list[U] | None:
        """A whole list or series of steps to cite, or a code block after the sentence introducing it.

        ``first``: ``best`` is the best unit of all, not a runner-up (only then does a lead-in bring its
        list whatever the question asks; a runner-up answers only a question asking for a set or steps).
        """
        shapes = question.shapes
        key = (best.doc_key, best.idx)
        is_lead = block.lead_in is not None and (block.lead_in.doc_key, block.lead_in.idx) == key
        if not is_lead and all((u.doc_key, u.idx) != key for u in block.units):
            return None
        if best.kind in _NAMED_KINDS:
            # "What do allow_methods, allow_credentials and max_age default to?": the items it names.
            hits = [u for u in block.units if u.kind in _NAMED_KINDS and _named_in(question.text, u.text)]
            if len(hits) >= 2:
                return outermost(hits)[: self.max_block_citations]
        asks_set = "set" in shapes and (is_lead or best.kind in _ITEM_KINDS or best.context)
        if asks_set and (whole := self._whole_list(block)):
            return whole
        if "how_to" in shapes and (best.kind in _STEP_KINDS or best.context):
            steps = [u for u in block.units if u.kind in _STEP_KINDS]
            if any(u.kind == "step" for u in steps):
                return _matching_case_first(best, outermost(steps))[: self.max_block_citations]
            if best.kind == "code" and (snippet := _numbered_snippet(best, block)) is not None:
                return [snippet]
            items = [u for u in block.units if u.kind == "list_item"]
            if best.kind == "list_item" and items and block.lead_in is not None:
                # Bulleted instructions ("To use it: * Import it. * Add it as a middleware.") are steps.
                return outermost([block.lead_in, *items])[: self.max_block_citations]
        if first and is_lead and (whole := self._whole_list(block)):
            # "All the same process also applies for query parameters:" says nothing without the items
            # it introduces, whatever the question's shape: the answer is the lead-in and its list.
            return whole
        if is_lead and block.lead_in is not None and all(u.kind == "code" for u in block.units):
            # "After that, sync the tree for each guild:" means nothing without the code it introduces.
            # Asked for code, the code is the answer (its citation carries the sentence as context).
            code = outermost(block.units)[:1]
            return code if question.wants_code else [block.lead_in, *code]
        return None

    def _whole_list(self, block: Block[U]) -> list[U] | None:
        """The block's lead-in and every item or step, in document order (None: it has no items)."""
        items = [u for u in block.units if u.kind in _ITEM_KINDS]
        if not items:
            return None
        head = [block.lead_in] if block.lead_in is not None else []
        return outermost(head + items)[: self.max_block_citations]


# The term an item opens with: a code span (Markdown, reST), or, in text extracted from HTML, PDF or
# Word where code spans are no longer marked, a name followed by a dash, colon or comma.
_ITEM_KEY = re.compile(r"^\W{0,3}(?:`([^`]{2,60})`|([A-Za-z_][\w.]{1,59})(?=\s*[:,]|\s+[-–—]\s))")


# A name, not a word: lower case first ("needy"), or an underscore, dot, digit or inner capital.
_NAME_LIKE = re.compile(r"^[a-z_]|[_.\d]|[a-z][A-Z]")


def _named_in(question: str, text: str) -> bool:
    """True when the question names the item: the term its text opens with (`allow_methods` - ...)."""
    m = _ITEM_KEY.match(text)
    if m is None:
        return False
    term = m.group(1) or m.group(2)
    if m.group(1) is None and not _NAME_LIKE.search(term):
        return False  # "Note: ..." or "Python, ..." opens an item with a word, not a setting's name
    return re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", question, re.IGNORECASE) is not None


# A comment that numbers a step of a snippet: "# 1. Load a model", "// 2) Encode", "-- 3. Query".
_STEP_COMMENT = re.compile(r"^\s*(?:#+|//+|--|/\*+|;+)\s*\d{1,2}[a-z]?[.):]\s+\S", re.MULTILINE)


def _numbered_snippet(best: U, block: Block[U]) -> U | None:
    """The whole code block around ``best`` when its comments number its steps, else None.

    A README's snippet with "# 1. Load", "# 2. Encode", "# 3. Compare" is a how-to in itself: one of
    its lines answers "what are the steps" only in part, the snippet answers it whole.
    """
    whole = next((u for u in outermost(block.units) if u.kind == "code" and _within(best, u)), None)
    if whole is None or whole is best or len(_STEP_COMMENT.findall(whole.text)) < 2:
        return None
    return whole


def _first_after(best: U, candidates: Sequence[U]) -> U | None:
    """The candidate that comes first after ``best`` in its document, if it is close after it."""
    after = [u for u in candidates if u.doc_key == best.doc_key and u.start >= best.end]
    first = min(after, key=lambda u: u.start, default=None)
    return first if first is not None and first.start - best.end <= _FIX_DISTANCE else None


# How far after an error message its fix may start (characters): a paragraph and a list's first item.
_FIX_DISTANCE = 1500


# A step that applies in one case only: "If you are on Windows, ...", "If on Mac, ...".
_CONDITION = re.compile(r"^\W{0,3}if\s", re.IGNORECASE)


def _matching_case_first(best: U, steps: list[U]) -> list[U]:
    """``steps`` in order, unless most of them are cases to pick from: then the best one leads.

    "If on Mac, ...", "If on Windows, ...", "If on Linux, ..." are not done one after another; asked
    "I'm on Windows, how do I ...", the Windows case is the answer and the others are background. A case
    moves with its commands (the units after its step, up to the next step); the best unit may be the
    step, a sentence of it, or one of its commands.
    """
    cases: list[list[U]] = []
    for u in steps:
        if u.kind == "step" or not cases:
            cases.append([u])
        else:
            cases[-1].append(u)
    heads = [c[0] for c in cases if c[0].kind == "step"]
    if len(heads) < 2 or 2 * sum(bool(_CONDITION.match(u.text)) for u in heads) < len(heads):
        return steps
    lead = next((c for c in cases if any(_within(best, u) for u in c) or best.context == c[0].text), None)
    if lead is None or lead is cases[0]:
        return steps
    return [u for c in [lead, *(c for c in cases if c is not lead)] for u in c]


def _names_only(question: Question, best: U, block: Block[U]) -> bool:
    """True when ``best`` is a list item whose name the question gives, and no other item's.

    A question naming one item ("which headers get through even if I don't list them in
    allow_headers?") asks about that item: the list around it is not the answer, however it is phrased.
    """
    if best.kind != "list_item" or question.asks_whole_list or not _named_in(question.text, best.text):
        return False
    return not any(
        _named_in(question.text, u.text) and not _within(best, u) and not _within(u, best)
        for u in block.units
        if u.kind in _NAMED_KINDS
    )


def _named_row_first(question: Question, cited: list[U]) -> list[U]:
    """Put first a cited table row the question names, or any row for a superlative or after its intro.

    "Is there a converter for forum channels?" cites a sentence about converters and the row
    "ForumChannel | ForumChannelConverter"; the row is the answer, the sentence its background. Asked
    "do I have to set BOT_PREFIX?", the `BOT_PREFIX` row answers and a row ranked above it that the
    question doesn't name is background too. For "which model has the best accuracy?" the sentence
    introducing the table ranks first, but the row the ranker found is the one the question asks for.
    An intro is a cited sentence ending in a colon before the row ("The following variables are
    needed:"): it says nothing alone.
    """
    if cited[0].kind == "table_row" and question.names_row_key(cited[0].text):
        return cited
    # Below a row, only a row the question names goes first ("do I have to set BOT_PREFIX?").
    extreme = cited[0].kind != "table_row" and question.superlative
    intro = cited[0].kind == "sentence" and cited[0].text.rstrip().endswith(":")
    for i, u in enumerate(cited[1:], start=1):
        introduced = intro and u.doc_key == cited[0].doc_key and u.start >= cited[0].end
        if u.kind == "table_row" and (extreme or introduced or question.names_row_key(u.text)):
            return [u, *cited[:i], *cited[i + 1 :]]
    return cited


def outermost(units: Sequence[U]) -> list[U]:
    """``units`` without those nested in (or equal to the span of) another one, order kept."""
    kept: list[U] = []
    for u in units:
        if any(_within(u, k) for k in kept):
            continue
        kept = [k for k in kept if not _within(k, u)] + [u]
    order = {id(u): i for i, u in enumerate(units)}
    return sorted(kept, key=lambda u: order[id(u)])


def _within(inner: UnitLike, outer: UnitLike) -> bool:
    return inner.doc_key == outer.doc_key and outer.start <= inner.start and inner.end <= outer.end
