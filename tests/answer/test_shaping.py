"""Answers shaped like their evidence: whole lists with lead-ins, steps with commands, no nested twins."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from retrieval import Settings
from retrieval.answer.extractive import extractive_answer
from retrieval.answer.generative import GenerativeAnswerer
from retrieval.answer.policy import AnswerPolicy, outermost
from retrieval.models import Evidence, Query, UnitKind
from retrieval.rank.blocks import Block, block_of, needs_block
from retrieval.rank.ranker import Retrieved
from retrieval.rank.weights import Thresholds

POLICY = AnswerPolicy(Thresholds(min_support=0.45, coverage_weight=0.5), max_block_citations=12)
SOURCE = (
    "Intro sentence. Remote models from:\n- OpenAI\n- Google is great. It is fast.\n"
    "Install it:\n1. Clone the repo:\n   git clone x\n   cd x\n2. Run it.\n"
)


def _unit(
    idx: int, kind: UnitKind, text: str, block: int, *, context: str | None = None, p: float = 0.0
) -> Evidence:
    start = SOURCE.index(text)
    return Evidence(
        doc_key="d",
        idx=idx,
        doc_id="doc",
        source="doc.md",
        title="Doc",
        start=start,
        end=start + len(text),
        text=text,
        score=p,
        probability=p,
        dense=0.8,
        lexical=1.0,
        coverage_window=0.8,
        kind=kind,
        context=context,
        block=block,
    )


LEAD = "Remote models from:"
HOW = "Install it:"
ITEM = "Google is great. It is fast."
UNITS = [
    _unit(0, "sentence", "Intro sentence.", 0),
    _unit(1, "sentence", LEAD, 0),
    _unit(2, "list_item", "OpenAI", 1, context=LEAD),
    _unit(3, "list_item", "Google is great. It is fast.", 1, context=LEAD),
    _unit(4, "sentence", "Google is great.", 1, context=LEAD),
    _unit(5, "sentence", "It is fast.", 1, context=LEAD),
    _unit(6, "sentence", HOW, 2),
    _unit(7, "step", "Clone the repo:", 3, context=HOW),
    _unit(8, "code", "git clone x\n   cd x", 3),
    _unit(9, "code", "git clone x", 3),
    _unit(10, "code", "cd x", 3),
    _unit(11, "step", "Run it.", 3, context=HOW),
]
ROWS = {u.idx: u for u in UNITS}


def _answer(question: str, best: int, runner_up: int = 0) -> list[str]:
    ranked = [
        UNITS[best].model_copy(update={"probability": 0.6}),
        UNITS[runner_up].model_copy(update={"probability": 0.4}),
    ]
    block = block_of(ROWS, best)
    assert block is not None
    retrieved = Retrieved(
        query=Query(question=question),
        evidence=ranked,
        blocks={0: block},
    )
    answer = extractive_answer(retrieved, POLICY)
    for c in answer.citations:
        assert SOURCE[c.start : c.end] == c.text
    return [c.text for c in answer.citations]


def test_a_set_question_cites_the_lead_in_and_every_item_in_order():
    """ "Which ..." with a list item best cites the lead-in, then the items, never an item's own sentences."""
    assert _answer("Which providers are supported?", best=3) == [LEAD, "OpenAI", ITEM]


def test_a_set_question_whose_best_unit_is_the_lead_in_cites_the_list_after_it():
    """The lead-in sentence itself as best unit brings the list that follows it."""
    assert _answer("Which remote models can I use?", best=1) == [LEAD, "OpenAI", ITEM]


def test_any_question_whose_best_unit_is_a_lead_in_cites_the_list_after_it():
    """A lead-in ("Remote models from:") says nothing alone: not asked for a set, it still brings its list."""
    question = "Is the remote model fast?"  # a yes/no question, no set question
    assert _answer(question, best=1) == [LEAD, "OpenAI", ITEM]
    # Its best unit an item, the same question cites that item and the runner-up, not the list.
    assert _answer(question, best=2, runner_up=0) == ["OpenAI", "Intro sentence."]


def test_a_how_to_question_cites_the_steps_with_their_commands():
    """A "how do I" question with a step best cites every step of the block and the whole command, once."""
    assert _answer("How do I install it?", best=9) == ["Clone the repo:", "git clone x\n   cd x", "Run it."]


def test_a_how_to_question_whose_best_unit_is_a_bullet_cites_the_bulleted_instructions():
    """Bulleted instructions under a lead-in are steps too: the lead-in, then every bullet in order."""
    assert _answer("How do I set up remote models?", best=3) == [LEAD, "OpenAI", ITEM]


def test_a_question_naming_several_items_cites_each_named_item():
    """Asked about `allow_methods` and `max_age` by name, the answer is those two items, in order."""
    lead = UNITS[1].model_copy(update={"text": "The arguments are:"})
    texts = [
        "`allow_methods` - methods; defaults to GET.",
        "`allow_credentials` - cookies.",
        "`max_age` - 600.",
    ]
    items = [
        UNITS[2].model_copy(
            update={"idx": 2 + n, "text": t, "context": lead.text, "start": 100 * n, "end": 100 * n + 50}
        )
        for n, t in enumerate(texts)
    ]
    block = Block(lead, items)
    question = "What do max_age and allow_methods default to?"
    chosen = POLICY.choose(question, [items[2], items[0]], [0.6, 0.4], {0: block})
    assert [u.text for u in chosen] == [texts[0], texts[2]]
    # Named as plain words ("the needy/skip example") counts too.
    plain = [
        u.model_copy(update={"text": t})
        for u, t in zip(items, ["`needy` - required.", "`skip` - 0.", "`limit` - 10."], strict=True)
    ]
    chosen = POLICY.choose(
        "In the needy/skip example, what are the defaults?", plain[:1], [1.0], {0: Block(lead, plain)}
    )
    assert [u.text for u in chosen] == ["`needy` - required.", "`skip` - 0."]
    # Text from HTML, PDF or Word has lost the code marks: a name opening the item before a dash,
    # colon or comma is its term all the same; a word that merely starts an item is not.
    extracted = [
        u.model_copy(update={"text": t})
        for u, t in zip(items, ["needy, a required str.", "skip: 0.", "Limits apply to all."], strict=True)
    ]
    chosen = POLICY.choose(
        "In the needy/skip/limits example, what are the defaults?",
        extracted[:1],
        [1.0],
        {0: Block(lead, extracted)},
    )
    assert [u.text for u in chosen] == ["needy, a required str.", "skip: 0."]
    # A capitalised word opening an item is no name: "Note:" and "Python," are not named items.
    worded = [
        u.model_copy(update={"text": t})
        for u, t in zip(items, ["Note: it is slow.", "Python, the language.", "limit: 10."], strict=True)
    ]
    chosen = POLICY.choose(
        "What does the note say about python?", worded[:1], [1.0], {0: Block(lead, worded)}
    )
    assert [u.text for u in chosen] == ["Note: it is slow."]
    # Naming one item is a plain question: that item and the runner-up, not the list.
    chosen = POLICY.choose("What does max_age default to?", [items[2], items[0]], [0.6, 0.4], {0: block})
    assert [u.text for u in chosen] == [texts[2], texts[0]]


def test_a_sentence_introducing_code_is_cited_with_the_code_after_it():
    """The best unit introducing a code block ("Sync it:") brings the whole block, not its lines."""
    source = "Sync it for each guild:\nawait tree.sync()\nprint(1)"
    lead = _unit(0, "sentence", "Clone the repo:", 0)  # offsets are not checked here: choose() is pure
    lead = lead.model_copy(update={"text": "Sync it for each guild:", "block": 0})
    whole = lead.model_copy(
        update={
            "idx": 1,
            "kind": "code",
            "text": source[24:],
            "block": 1,
            "context": lead.text,
            "start": 24,
            "end": len(source),
        }
    )
    line = whole.model_copy(update={"idx": 2, "text": "await tree.sync()", "end": 41})
    rows = {u.idx: u for u in (lead, whole, line)}
    block = block_of(rows, 0)
    assert block is not None and block.lead_in == lead
    chosen = POLICY.choose("Why would I sync them?", [lead, line], [0.6, 0.4], {0: block})
    assert [u.idx for u in chosen] == [0, 1]
    # Asked for the code itself, the code alone is cited (its citation carries the sentence as context).
    chosen = POLICY.choose("What's the line to sync them?", [lead, line], [0.6, 0.4], {0: block})
    assert [u.idx for u in chosen] == [1]


def test_a_plain_question_keeps_todays_answer_and_drops_a_nested_runner_up():
    """A fact question cites the best unit; a runner-up nested in it is skipped, not cited twice."""
    assert _answer("Is Google fast?", best=3, runner_up=5) == ["Google is great. It is fast."]


def test_citations_carry_the_units_kind_and_context():
    """A cited list item says it is one, and carries its lead-in as context."""
    retrieved = Retrieved(query=Query(question="Is OpenAI there?"), evidence=[UNITS[2]])
    [citation] = extractive_answer(retrieved, POLICY).citations
    assert (citation.kind, citation.context) == ("list_item", LEAD)


def test_the_block_limit_caps_a_long_list():
    """At most ``max_block_citations`` units are cited for a whole list."""
    small = AnswerPolicy(POLICY.thresholds, max_block_citations=2)
    block = block_of(ROWS, 2)
    assert block is not None
    chosen = small.choose("Which providers?", [UNITS[2]], [1.0], {0: block})
    assert [u.text for u in chosen] == [LEAD, "OpenAI"]


def _ranked(*pairs: tuple[int, float]) -> tuple[list[Evidence], list[float], dict[int, Any]]:
    """Units ranked as given (index into UNITS, probability), with the block of each unit that has one."""
    ranked = [UNITS[i].model_copy(update={"probability": p}) for i, p in pairs]
    blocks = {
        r: b
        for r, (i, _) in enumerate(pairs)
        if needs_block(UNITS[i], ROWS.get(i + 1)) and (b := block_of(ROWS, i)) is not None
    }
    return ranked, [p for _, p in pairs], blocks


def test_a_runner_up_list_answers_a_set_question_whose_best_unit_is_prose():
    """A sentence about the list ranks first, the list's lead-in second: the list is the answer."""
    ranked, probs, blocks = _ranked((0, 0.5), (1, 0.3))
    assert [u.text for u in POLICY.choose("Which remote models can I use?", ranked, probs, blocks)] == [
        LEAD,
        "OpenAI",
        ITEM,
    ]


def test_a_runner_up_list_far_below_the_best_unit_is_not_cited():
    """Under ``runner_up_share`` of the best unit's probability, the runner-up's list is not the answer."""
    ranked, probs, blocks = _ranked((0, 0.97), (1, 0.97 * POLICY.runner_up_share * 0.5))
    assert [u.text for u in POLICY.choose("Which remote models can I use?", ranked, probs, blocks)] == [
        "Intro sentence."
    ]


def test_a_runner_up_list_does_not_answer_a_plain_question():
    """Only a question asking for a set or for steps takes its answer from a runner-up's block."""
    ranked, probs, blocks = _ranked((0, 0.5), (1, 0.4))
    chosen = POLICY.choose("Is the intro short?", ranked, probs, blocks)
    assert [u.text for u in chosen] == ["Intro sentence.", LEAD]


def test_a_runner_up_code_block_alone_is_not_promoted():
    """A runner-up answers as a list or as steps; a lone code line below prose stays where it ranked."""
    ranked, probs, blocks = _ranked((0, 0.5), (9, 0.3))
    blocks[1] = block_of({9: UNITS[9]}, 9)
    chosen = POLICY.choose("How do I install it?", ranked, probs, blocks)
    assert chosen[0].text == "Intro sentence."


def test_a_cited_row_the_question_names_comes_before_the_sentence_ranked_above_it():
    """Two citations, a sentence then a table row whose first cell the question names: the row first."""
    sentence = UNITS[0].model_copy(update={"text": "Every converter is listed below."})
    row = UNITS[2].model_copy(
        update={"idx": 20, "kind": "table_row", "text": "| :class:`ForumChannel` | ForumChannelConverter |"}
    )
    question = "Is there a converter for forum channels?"
    assert POLICY.choose(question, [sentence, row], [0.6, 0.4], {}) == [row, sentence]
    # A row the question doesn't name keeps its rank.
    assert POLICY.choose("Is there a converter for threads?", [sentence, row], [0.6, 0.4], {}) == [
        sentence,
        row,
    ]


def test_a_row_the_question_names_goes_before_a_row_it_does_not():
    """ "Do I have to set BOT_PREFIX?" cites the BOT_PREFIX row first, whatever row ranks above it."""
    first = UNITS[0].model_copy(
        update={"kind": "table_row", "text": "| `API_KEYS_SITE_API` | Without Docker |"}
    )
    named = UNITS[2].model_copy(update={"idx": 20, "kind": "table_row", "text": "| `BOT_PREFIX` | Not ! |"})
    question = "do i have to set BOT_PREFIX for the bot or is there a default?"
    assert POLICY.choose(question, [first, named], [0.6, 0.4], {}) == [named, first]
    # No row named: the ranker's order stands, superlative or not.
    for other in ("which setting is the default?", "which setting is the best?"):
        assert POLICY.choose(other, [first, named], [0.6, 0.4], {}) == [first, named]


def test_a_cited_row_comes_before_the_sentence_that_introduces_its_table():
    """ "The following variables are needed:" says nothing alone; the row cited with it is the answer."""
    intro = UNITS[0].model_copy(update={"text": "The following variables are needed:"})
    row = UNITS[2].model_copy(
        update={"idx": 20, "kind": "table_row", "text": "| `USE_FAKEREDIS` | Set this without a Redis |"}
    )
    question = "no redis on my machine, which var do i flip?"
    assert POLICY.choose(question, [intro, row], [0.6, 0.4], {}) == [row, intro]
    # A sentence introducing something after the row, or another document's, is no introduction of it.
    later = intro.model_copy(update={"start": row.end + 10, "end": row.end + 45})
    assert POLICY.choose(question, [later, row], [0.6, 0.4], {}) == [later, row]
    other = intro.model_copy(update={"doc_key": "e"})
    assert POLICY.choose(question, [other, row], [0.6, 0.4], {}) == [other, row]


def test_outermost_keeps_containers_in_first_seen_order():
    """Units nested in another are dropped, whichever comes first; the rest keep their order."""
    assert [u.idx for u in outermost([UNITS[9], UNITS[7], UNITS[8], UNITS[10]])] == [7, 8]


class _Recorder(BaseChatModel):
    """A chat model that records its prompts and answers with one fixed reply."""

    reply: str
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recorder"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.prompts.append(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.reply))])


def test_the_language_model_sees_the_whole_shaped_block_with_kinds_and_context():
    """A set question shows the model the lead-in and every item (kind and lead-in quoted), none twice."""
    best = UNITS[3].model_copy(update={"probability": 0.6, "section": ["Doc", "Models"]})
    nested = UNITS[4].model_copy(update={"probability": 0.4})
    block = block_of(ROWS, 3)
    assert block is not None
    retrieved = Retrieved(
        query=Query(question="Which providers are supported?"),
        evidence=[best, nested],
        blocks={0: block},
    )
    model = _Recorder(reply="OpenAI is supported [2].")
    answer = GenerativeAnswerer(Settings(llm="openai", llm_output="text"), model=model, policy=POLICY)(
        retrieved
    )
    shown = model.prompts[-1][1].text.split("<sentences>")[1].split("</sentences>")[0].strip().splitlines()
    assert [line.split(" ", 1)[1].split(" (kind")[0] for line in shown] == [
        json.dumps(LEAD),
        '"OpenAI"',
        json.dumps(ITEM),
    ]
    assert shown[1] == f'[2] "OpenAI" (kind: list_item; context: {json.dumps(LEAD)})'
    assert not answer.refused and [c.text for c in answer.citations] == ["OpenAI"]
    assert answer.citations[0].kind == "list_item" and answer.citations[0].context == LEAD


def _units_of(source: str, *specs: tuple[UnitKind, str, int, str | None]) -> list[Evidence]:
    """Units (kind, text, block, context) found in ``source`` in order, indexed from 0."""
    units = []
    for idx, (kind, text, block, context) in enumerate(specs):
        start = source.index(text)
        units.append(
            Evidence(
                doc_key="d", idx=idx, doc_id="doc", source="doc.md", title="Doc", start=start,
                end=start + len(text), text=text, score=0.0, probability=0.0, dense=0.8, lexical=1.0,
                coverage_window=0.8, kind=kind, context=context, block=block,
            )
        )  # fmt: skip
    return units


def _choose(question: str, units: list[Evidence], *ranked: tuple[int, float]) -> list[str]:
    rows = {u.idx: u for u in units}
    order = [units[i].model_copy(update={"probability": p}) for i, p in ranked]
    blocks = {
        r: b
        for r, (i, _) in enumerate(ranked)
        if needs_block(units[i], rows.get(i + 1)) and (b := block_of(rows, i)) is not None
    }
    return [u.text for u in POLICY.choose(question, order, [p for _, p in ranked], blocks)]


SNIPPET = "Use it:\n\nfrom x import Enc\n# 1. Load a model\nm = Enc()\n# 2. Encode\ne = m.encode(s)\n"


def _snippet(source: str) -> list[Evidence]:
    lines = source.split("\n\n", 1)[1].rstrip("\n")
    return _units_of(
        source,
        ("sentence", "Use it:", 0, None),
        ("code", lines, 1, "Use it:"),
        *[("code", line, 1, "Use it:") for line in lines.split("\n")],  # type: ignore[misc]
    )


def test_a_how_to_question_on_a_line_of_a_snippet_with_numbered_comments_cites_the_whole_snippet() -> None:
    """ "# 1. Load", "# 2. Encode" make a snippet steps: it answers "what are the steps" as a whole."""
    units = _snippet(SNIPPET)
    question = "What are the steps to encode with Enc?"
    assert _choose(question, units, (4, 0.6), (6, 0.3)) == [units[1].text]
    # Without numbered comments a snippet is not steps: its best line is cited, with the runner-up.
    plain = SNIPPET.replace("# 1. Load a model", "# load a model").replace("# 2. Encode", "# encode")
    units = _snippet(plain)
    assert _choose(question, units, (4, 0.6), (6, 0.3)) == ["m = Enc()", "e = m.encode(s)"]


TROUBLE = (
    "If you see this error\n\nERROR: Could not build wheels for hnswlib\n\nTry these tips:\n"
    "1. Set HNSWLIB_NO_NATIVE=1.\n2. Update your compiler.\n\nOther text.\n"
)
TROUBLE_UNITS = _units_of(
    TROUBLE,
    ("sentence", "If you see this error", 0, None),
    ("code", "ERROR: Could not build wheels for hnswlib", 1, "If you see this error"),
    ("sentence", "Try these tips:", 2, None),
    ("step", "Set HNSWLIB_NO_NATIVE=1.", 3, "Try these tips:"),
    ("step", "Update your compiler.", 3, "Try these tips:"),
    ("sentence", "Other text.", 4, None),
)


def test_a_quoted_error_message_is_answered_by_the_fix_that_follows_it() -> None:
    """The pasted error matches its code block best; the steps right after it are the answer, however low."""
    question = "pip install dies with 'Could not build wheels for hnswlib', what can I try?"
    chosen = _choose(question, TROUBLE_UNITS, (1, 0.9), (5, 0.05), (3, 0.01))
    assert chosen == ["Try these tips:", "Set HNSWLIB_NO_NATIVE=1.", "Update your compiler."]


def test_an_unquoted_question_or_a_far_away_list_keeps_the_error_block_first() -> None:
    """Without a quote the error block is the answer as ranked; a fix must follow the error closely."""
    unquoted = "pip install dies because it could not build wheels for hnswlib, what can I try?"
    assert _choose(unquoted, TROUBLE_UNITS, (1, 0.9), (5, 0.05), (3, 0.01))[0] == TROUBLE_UNITS[1].text
    # The same steps three pages further on are not the fix of this message.
    far = [
        u.model_copy(update={"start": u.start + 5000, "end": u.end + 5000}) if u.kind == "step" else u
        for u in TROUBLE_UNITS
    ]
    question = "pip install dies with 'Could not build wheels for hnswlib', what can I try?"
    assert _choose(question, far, (1, 0.9), (5, 0.05), (3, 0.01))[0] == TROUBLE_UNITS[1].text


ARGS = (
    "The following arguments are supported:\n"
    "- `allow_origins` - Origins allowed.\n"
    "- `allow_headers` - Headers allowed. Accept and Content-Type are always allowed.\n"
    "- `max_age` - Seconds to cache.\n"
)
ARG_UNITS = _units_of(
    ARGS,
    ("sentence", "The following arguments are supported:", 0, None),
    ("list_item", "`allow_origins` - Origins allowed.", 1, "The following arguments are supported:"),
    (
        "list_item",
        "`allow_headers` - Headers allowed. Accept and Content-Type are always allowed.",
        1,
        "The following arguments are supported:",
    ),
    ("list_item", "`max_age` - Seconds to cache.", 1, "The following arguments are supported:"),
)


def test_a_set_question_naming_one_item_is_answered_by_that_item_not_the_list() -> None:
    """ "Which headers get through even if I don't list them in allow_headers?" is about one argument."""
    question = "which headers get through even if I don't list them in allow_headers?"
    assert _choose(question, ARG_UNITS, (2, 0.97), (3, 0.01)) == [ARG_UNITS[2].text]
    # Not named, the same best item answers a set question with the whole list.
    chosen = _choose("which headers get through on simple requests?", ARG_UNITS, (2, 0.97), (3, 0.01))
    assert chosen == [u.text for u in ARG_UNITS]


CASES = (
    "Try these:\n1. Install the latest Python.\n2. If you are on Linux, install pysqlite3.\n"
    "3. If you are on Windows, download SQLite and replace the DLL.\n4. If you use Docker, upgrade Debian.\n"
)
CASE_UNITS = _units_of(
    CASES,
    ("sentence", "Try these:", 0, None),
    ("step", "Install the latest Python.", 1, "Try these:"),
    ("step", "If you are on Linux, install pysqlite3.", 1, "Try these:"),
    ("step", "If you are on Windows, download SQLite and replace the DLL.", 1, "Try these:"),
    ("step", "If you use Docker, upgrade Debian.", 1, "Try these:"),
)


def test_steps_that_are_cases_to_pick_from_lead_with_the_matching_case() -> None:
    """ "If on Linux", "If on Windows": asked about Windows, the Windows case comes first, then the rest."""
    question = "I'm on windows and sqlite is outdated, how do I update it?"
    steps = [u.text for u in CASE_UNITS[1:]]
    assert _choose(question, CASE_UNITS, (3, 0.6), (1, 0.2)) == [steps[2], steps[0], steps[1], steps[3]]
    # Steps done one after another keep their order, whichever ranks first.
    assert _choose("How do I install it?", UNITS, (11, 0.6), (7, 0.2)) == [
        "Clone the repo:",
        "git clone x\n   cd x",
        "Run it.",
    ]


def test_a_question_for_the_best_or_highest_puts_the_cited_row_before_the_sentence_about_the_table():
    """ "Which model has the best accuracy?": the row that stands out answers; the intro is background."""
    sentence = UNITS[0].model_copy(update={"text": "The models below with their zero-shot accuracy."})
    row = UNITS[2].model_copy(update={"idx": 20, "kind": "table_row", "text": "| clip-ViT-L-14 | 75.4 |"})
    question = "which CLIP model has the best zero-shot accuracy, and how much?"
    assert POLICY.choose(question, [sentence, row], [0.8, 0.17], {}) == [row, sentence]
    plain = "what zero-shot accuracy do the CLIP models reach?"
    assert POLICY.choose(plain, [sentence, row], [0.8, 0.17], {}) == [sentence, row]


def test_code_in_backticks_is_not_a_pasted_error_and_keeps_its_answer() -> None:
    """ "How do I call `...`?" asks about that code: the list after it is no fix, however it ranks."""
    question = "how do I pass `Could not build wheels for hnswlib` to the installer?"
    assert _choose(question, TROUBLE_UNITS, (1, 0.9), (5, 0.05), (3, 0.01))[0] == TROUBLE_UNITS[1].text


CASES_WITH_COMMANDS = "Install it:\n1. If on Mac:\n   brew install x\n2. If on Windows:\n   choco install x\n"
CASE_COMMAND_UNITS = _units_of(
    CASES_WITH_COMMANDS,
    ("sentence", "Install it:", 0, None),
    ("step", "If on Mac:", 1, "Install it:"),
    ("code", "brew install x", 1, "If on Mac:"),
    ("step", "If on Windows:", 1, "Install it:"),
    ("code", "choco install x", 1, "If on Windows:"),
)


def test_a_matching_case_moves_with_its_command_whichever_of_them_ranks_first() -> None:
    question = "I'm on Windows, how do I install it?"
    windows_first = ["If on Windows:", "choco install x", "If on Mac:", "brew install x"]
    assert _choose(question, CASE_COMMAND_UNITS, (3, 0.6), (1, 0.2)) == windows_first
    assert _choose(question, CASE_COMMAND_UNITS, (4, 0.6), (1, 0.2)) == windows_first


def test_at_least_or_at_most_is_no_superlative() -> None:
    """ "Do I need at least Python 3.8?" keeps the sentence ranked first before a row cited with it."""
    sentence = UNITS[0].model_copy(update={"text": "Python 3.8 or newer is required."})
    row = UNITS[2].model_copy(update={"idx": 20, "kind": "table_row", "text": "| 3.7 | unsupported |"})
    for question in ("Do I need at least Python 3.8?", "What is the most common way to install it?"):
        assert POLICY.choose(question, [sentence, row], [0.6, 0.3], {}) == [sentence, row]


def test_a_question_asking_for_the_list_around_a_named_item_still_gets_the_list() -> None:
    whole = [u.text for u in ARG_UNITS]
    for question in (
        "which arguments are supported besides allow_origins?",
        "list all the arguments, such as allow_headers",
    ):
        best = 1 if "allow_origins" in question else 2
        assert _choose(question, ARG_UNITS, (best, 0.97), (3, 0.01)) == whole
