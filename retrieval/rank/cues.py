"""What a question's wording says about its answer: the kind of answer wanted, and the names it asks about.

These read text only (no index), so the signals can use them and the ranker can check the names a
question asks about against the best document's vocabulary. ``Question`` reads one question's wording
once: the ranker builds it, its signals and the answer policy read its cues.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cached_property

from ..index.language import guess_short, may_be_in
from ..index.lexical import tokenize

log = logging.getLogger(__name__)

_QUANTITY_Q = re.compile(
    r"\b(how (many|much|long|old|far|big|large|tall|high|often|fast|deep|wide)|what (year|percentage|percent|"
    r"number|amount|proportion|fraction|temperature|date|decade|century)|which year|in what year)\b|"
    # "When did ...?" asks for a date; "why is it None when I call .get?" states a condition.
    r"\bwhen (?:(?:did|does|do|is|was|were|are|will|would|can|could|should|has|have|had|must|might|may)"
    r"(?:n['’]?t)?|exactly)\b|\bwhen\W*$",
    re.IGNORECASE,
)
_PERSON_Q = re.compile(
    r"^\W*(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|did|does|had|has)\b", re.IGNORECASE
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|century|decade)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_ENTITY = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_ACRONYM = re.compile(r"^[A-Z0-9]{2,6}s?$")
# Text the asker pasted or quoted ('an error message', "a title", `code`): its words are not names asked
# about. An apostrophe inside a word ("user's") opens no quote.
_MARKS = r"\"[^\"]*\"|“[^”]*”|‘[^’]*’"  # double and curly quotes, shared by the two patterns below
_QUOTED = re.compile(rf"`[^`]*`|(?<!\w)'[^']*'(?!\w)|{_MARKS}")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")
# Spanish opens a question or an exclamation with "¿" or "¡": a word after it starts a sentence too.
_SENTENCE_OPEN = re.compile(r"(?:^|[.!?:;]\s*)\s*[¿¡]+\s*$")
# Languages that capitalise every noun, not only names: a capital says nothing of a name in them.
NOUNS_CAPITALISED = frozenset({"de"})
_PRONOUN_I = re.compile(r"^I(?:['’](?:ve|m|d|ll))?$")


def wants_quantity(question: str) -> bool:
    """True for questions whose answer is a number, amount or date."""
    return bool(_QUANTITY_Q.search(question))


def wants_person(question: str) -> bool:
    """True for who/whom/whose questions."""
    return bool(_PERSON_Q.search(question))


# Documentation's own answer types: an error or exception, a version, an HTTP status code, a path.
_ERROR_Q = re.compile(r"\b(what|which) (\w+ ){0,2}(error|exception|warning)s?\b", re.IGNORECASE)
_ERROR = re.compile(r"\w(Error|Exception|Warning)\b|:exc:|\braise[sd]?\b", re.IGNORECASE)
_VERSION_Q = re.compile(r"\bversions?\b", re.IGNORECASE)
_VERSION = re.compile(r"\b[vV]?\d+\.\d+")
_CODE_NUMBER_Q = re.compile(r"\bstatus codes?\b", re.IGNORECASE)
_CODE_NUMBER = re.compile(r"\b\d{3,5}\b")
# "Where does it save my keys?", "where's the data folder?": the answer is a path, a file or a folder.
_WHERE_FILE_Q = re.compile(
    r"\bwhere\b[^?]*\b(sav\w*|stor\w*|kept|keeps?|lives?|located|writ\w*|puts?|folders?|director(y|ies)|"
    r"files?|paths?|logs?|cache\w*|data)\b",
    re.IGNORECASE,
)
_PATH = re.compile(
    r"(?:^|[\s`'\"(])(?:~|\.{1,2}|[A-Za-z]:|%\w+%|\$\w+)?[/\\][\w.-]+|"  # ~/.config/x, C:\x, $HOME/x, /etc/x
    r"\b[\w-]+\.(?:json|ya?ml|toml|ini|cfg|conf|env|db|sqlite3?|log|txt|py)\b",  # keys.json, logs.db
)


#: Whether a sentence holds the kind of answer a question asks for (1.0) or not (0.0).
AnswerCheck = Callable[[str], float]


def _holds(pattern: re.Pattern[str]) -> AnswerCheck:
    return lambda sentence: 1.0 if pattern.search(sentence) else 0.0


def answer_type_check(question: str) -> AnswerCheck | None:
    """The check of the kind of answer ``question`` asks for, or None when it asks for no such kind.

    Worked out once per question: the ranker applies it to every candidate.
    """
    if _ERROR_Q.search(question):
        return _holds(_ERROR)
    if _VERSION_Q.search(question):
        return _holds(_VERSION)
    if _CODE_NUMBER_Q.search(question):
        return _holds(_CODE_NUMBER)
    if wants_quantity(question):
        return _holds(_NUMBER)
    if wants_person(question):
        q_words = set(re.findall(r"\w+", question.lower()))

        def new_name(sentence: str) -> float:
            names = [m.group(0) for m in _NAME.finditer(sentence)]
            return 1.0 if any(w.lower() not in q_words for n in names for w in n.split()) else 0.0

        return new_name
    if _WHERE_FILE_Q.search(question):
        return _holds(_PATH)
    return None


# A yes/no question ("can I ...?", "does it need ...?", "is there ...?") is answered by a sentence that
# says yes or no: a negation, a requirement, a permission, a restriction.
_YES_NO_Q = re.compile(
    r"(?:^\W*|[,;]\s+)(can|could|do|does|did|is|are|was|were|should|will|would|must|has|have)\s[^?]*\?",
    re.IGNORECASE,
)
_POLAR = re.compile(
    r"n['’]t\b|\b(not|no|never|only|must|cannot|all|every|always|required?|requires|optional|allow(s|ed)?|"
    r"need(s|ed)?|instead|also|supported|unsupported|both|either|neither)\b",
    re.IGNORECASE,
)


def wants_yes_no(question: str) -> bool:
    """True for a question answered by yes or no ("can I ...?", "do both have to pass?")."""
    return not _HOW_TO_Q.search(question) and bool(_YES_NO_Q.search(question))


def says_yes_or_no(sentence: str) -> bool:
    """True for a sentence that can answer yes or no: a negation, a must, an only, an allowed."""
    return bool(_POLAR.search(sentence))


_ROLE = re.compile(r":[\w:-]+:`~?(?:[\w.]*\.)?([^`<]+?)(?:\s*<[^>]*>)?`")  # :class:`~ext.commands.Member`
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|`([^`]*)`_?")  # [text](url), `text <url>`_, `code`
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z][a-z])")


def row_key(row: str) -> str:
    """The first cell of a table row as plain words ("| :class:`ForumChannel` | ..." -> "Forum Channel").

    A row of a lookup table is about what its first cell names: the setting, the class, the provider.
    """
    cells = [c for c in (row.split("|") if "|" in row else re.split(r"\s{2,}", row.strip())) if c.strip()]
    if not cells:
        return ""
    cell = _ROLE.sub(r"\1", cells[0])
    cell = _LINK.sub(lambda m: m.group(1) or m.group(2) or "", cell)
    return _CAMEL.sub(" ", cell.replace("*", "").strip())


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question, leaving out acronyms (they may stand for a spelled-out name).

    A run of capitalised words that starts the question, or a sentence of it, is skipped whole ("Which
    Super Bowl ..."): the first word is capitalised anyway, and checking what follows it refused more
    answerable questions on squad-dev than it caught unanswerable ones. Quoted or pasted text (an error
    message, a command) is skipped too: it is what the asker saw, not a name they ask about, and its
    words are capitalised by the program that printed them. The pronoun "I" ("I've", "I DM them") is
    no name either.
    """
    text = _QUOTED.sub(lambda m: " " * len(m.group(0)), question.strip())
    out = []
    for m in _ENTITY.finditer(text):
        before = text[: m.start()]
        if m.start() == 0 or _SENTENCE_END.search(before) or _SENTENCE_OPEN.search(before):
            continue
        words = m.group(0).split()
        while words and _PRONOUN_I.match(words[0]):
            words = words[1:]
        if words and not all(_ACRONYM.match(w) for w in words):
            out.append(" ".join(words))
    return out


def _similar(term: str, vocabulary: frozenset[str]) -> bool:
    """Exact, or a near spelling (users misspell names: "Ghandi", "Shelly")."""
    if term in vocabulary:
        return True
    if len(term) < 4:
        return False
    return any(
        SequenceMatcher(None, term, v).ratio() >= 0.8
        for v in vocabulary
        if v[:1] == term[:1] and abs(len(v) - len(term)) <= 2
    )


def missing_entities(question: str | Sequence[str], vocabulary: frozenset[str]) -> list[str]:
    """Names the question asks about (or the given names) of which no word occurs in a vocabulary."""
    missing = []
    for entity in question_entities(question) if isinstance(question, str) else question:
        terms = tokenize([entity])[0]
        if terms and not any(_similar(t, vocabulary) for t in terms):
            missing.append(entity)
    return missing


# Questions that ask for several things at once: the answer is a list (or its lead-in and items).
_SET_Q = re.compile(
    r"^\W*(which|list|name)\b|\b(which|what)\b[^?]*\b(are|do|does|can|could|were)\b[^?]*\b(supported|support|"
    r"options?|available|ways?|kinds?|types?|methods?|features?|settings?|things?|stuff|models?|"
    r"providers?|backends?|deps|dependencies|requirements?)\b|\bwhat (are|were) (the|all|some)\b|"
    r"\b(what|which) (other|else)\b|\b(list|enumerate)\b|\beach of\b|\bwhat can(no|')?t?\b|"
    r"\b(what|which) (\w+ ){0,2}\w+s (can|do|does|should|are|will)\b|\b(advantages|benefits|pros and cons)\b|"
    r"\bwhat (all )?(do|should|must) (i|we|you) (include|provide|mention|attach|prepare|bring|"
    r"have installed|need (installed|to install|to have))\b",
    re.IGNORECASE,
)
# Questions that ask how to do something: the answer is a series of steps or a command.
_HOW_TO_Q = re.compile(
    r"\bhow (do|can|should|would) (i|we|you)\b|\bhow to\b|\b(steps?|walk me through|instructions?|"
    r"install(ing)?|set ?up|setup|get\w* \w+ running|troubleshoot\w*|work ?around|"
    r"(fix|solve|resolve) (it|this|that)|what (should|can|do) (i|we) (do|try)|"
    r"what (do|should|can|must) (i|we|you) (run|type|execute|enter)|what command)\b",
    re.IGNORECASE,
)
# Questions about a setting, option or value: the answer is often a row of a settings table.
_SETTING_Q = re.compile(
    r"\b(setting|option|config\w*|parameter|param|default\w*|value|flag|field|column|"
    r"which one|best|highest|lowest)\b",
    re.IGNORECASE,
)
# Questions whose answer is code, a command or what a program prints.
_CODE_Q = re.compile(
    r"\b(line|snippet|syntax|code)\b|\b(command|call|import) (to|for)\b|"
    r"\b(examples?|output|prints?|returns?|send back|get back|response)\b",
    re.IGNORECASE,
)
# Things people paste from code or terminals: snake_case, dotted.names, calls(), --flags, `ticks`, CamelCase.
_CODE_TOKEN = re.compile(
    r"`([^`]+)`|(?:(?<=\s)|^)(--?[a-z][\w-]+)|\b(\w+(?:\.\w+)+\(?\)?|\w+\(\)|[a-z]+_[\w]+|[A-Z][a-z]+[A-Z]\w*)",
)


def wants_set(question: str) -> bool:
    """True for questions asking for several things: "which ...", "what ... are supported", "list ..."."""
    return bool(_SET_Q.search(question))


def wants_steps(question: str) -> bool:
    """True for how-to questions: "how do I ...", "walk me through ...", "what can I try"."""
    return bool(_HOW_TO_Q.search(question))


def wants_setting(question: str) -> bool:
    """True for questions about a setting, option, default or a value to look up in a table."""
    return bool(_SETTING_Q.search(question))


def wants_code(question: str) -> bool:
    """True for questions answered by code: "what's the line to ...", "what does it return", "how do I"."""
    return bool(_CODE_Q.search(question)) or wants_steps(question)


def question_shapes(question: str) -> frozenset[str]:
    """The shapes of answer ``question`` asks for ("set", "how_to", "setting"); empty for plain facts."""
    shapes = set()
    if wants_set(question):
        shapes.add("set")
    if wants_steps(question):
        shapes.add("how_to")
    if wants_setting(question):
        shapes.add("setting")
    return frozenset(shapes)


# A message quoted in quote marks (not code in backticks); "can't" inside it closes nothing.
_QUOTED_MESSAGE = re.compile(rf"(?<!\w)'(?:[^']|(?<=\w)'(?=\w))*'(?!\w)|{_MARKS}")
_FAILURE = re.compile(
    r"\b(error|exception|fail\w*|traceback|not found|denied|cannot|can't|could not|couldn't|unable|invalid|"
    r"refused|missing|crash\w*|abort\w*|fatal|warning|timed? ?out)\b",
    re.IGNORECASE,
)


def code_tokens(question: str) -> list[str]:
    """The identifiers, flags, calls and quoted snippets pasted in a question, as written."""
    out = []
    for m in _CODE_TOKEN.finditer(question):
        token = next(g for g in m.groups() if g)
        token = token.strip().rstrip("()").strip("'\"") if not m.group(1) else token.strip()
        if len(token) >= 3:
            out.append(token)
    return list(dict.fromkeys(out))


def code_overlap(tokens: Sequence[str], text: str) -> float:
    """The share of the question's code tokens found verbatim (case-insensitive) in ``text``."""
    if not tokens:
        return 0.0
    lowered = text.lower()
    return sum(t.lower() in lowered for t in tokens) / len(tokens)


# Asks for the list around a named item anyway: "list all arguments, like allow_origins", "which others".
_WHOLE_LIST = re.compile(
    r"^\W*list\b|\b(list|name) (all|every|the)\b|\b(all|every) (the )?\w+s\b|\bothers?\b|\bbesides\b|"
    r"\bexcept\b|\bapart from\b|\bsuch as\b|\be\.g\.|\bfor example\b",
    re.IGNORECASE,
)
# "Which model has the best accuracy?", "what's the fastest one?": asks for the one row that stands out.
_SUPERLATIVE = re.compile(
    r"\b(best|worst|highest|lowest|fastest|slowest|largest|smallest|biggest|cheapest)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Question:
    """One question's wording, read once: what the ranker's signals and the answer policy ask of it.

    The ranker builds one per query (``Question.of``) and hands it to the signals and, with the ranked
    evidence, to the answer policy, so each cue's regular expression runs at most once per question.
    Every cue is worked out on first use and kept (a frozen dataclass: the text never changes).
    """

    text: str

    @classmethod
    def of(cls, question: str | Question) -> Question:
        """``question`` itself, or its text read as a ``Question`` (for callers holding only a string)."""
        return question if isinstance(question, Question) else cls(question)

    @cached_property
    def terms(self) -> tuple[str, ...]:
        """The question's stemmed terms, as BM25 and the coverage signals read them."""
        return tuple(tokenize([self.text])[0])

    @cached_property
    def term_set(self) -> frozenset[str]:
        """The question's stemmed terms as a set."""
        return frozenset(self.terms)

    @cached_property
    def shapes(self) -> frozenset[str]:
        """The shapes of answer it asks for (``question_shapes``)."""
        return question_shapes(self.text)

    @cached_property
    def language(self) -> str:
        """The language it is written in, guessed from its script and wording (``guess_short``)."""
        return guess_short(self.text)

    @cached_property
    def entities(self) -> tuple[str, ...]:
        """The names it asks about (``question_entities``); none in a language that capitalises nouns.

        German capitalises every noun ("Wie viele Bälle ..."), so there a capital marks no name. The
        language is guessed only when a capitalised word is found (English questions stay cheap).
        """
        found = tuple(question_entities(self.text))
        return () if found and self.language in NOUNS_CAPITALISED else found

    @cached_property
    def answer_check(self) -> AnswerCheck | None:
        """The check of the kind of answer it asks for (``answer_type_check``)."""
        return answer_type_check(self.text)

    @cached_property
    def yes_no(self) -> bool:
        """It is answered by yes or no (``wants_yes_no``)."""
        return wants_yes_no(self.text)

    @cached_property
    def wants_code(self) -> bool:
        """It is answered by code (``wants_code``)."""
        return wants_code(self.text)

    @cached_property
    def code_tokens(self) -> tuple[str, ...]:
        """The identifiers, flags and snippets pasted in it (``code_tokens``)."""
        return tuple(code_tokens(self.text))

    @cached_property
    def asks_whole_list(self) -> bool:
        """It asks for a whole list even when it names one item ("list all arguments, like allow_origins")."""
        return _WHOLE_LIST.search(self.text) is not None

    @cached_property
    def superlative(self) -> bool:
        """It asks for the one that stands out: the best, the highest, the fastest."""
        return _SUPERLATIVE.search(self.text) is not None

    @cached_property
    def _quoted_messages(self) -> tuple[str, ...]:
        """The words of each message it quotes in quote marks (three words or more), lower case."""
        quoted = (re.findall(r"\w+", m.group(0).lower()) for m in _QUOTED_MESSAGE.finditer(self.text))
        return tuple(" ".join(words) for words in quoted if len(words) >= 3)

    def answer_type(self, sentence: str) -> float:
        """1.0 when ``sentence`` holds the kind of answer it asks for (``answer_type_check``)."""
        check = self.answer_check
        return check(sentence) if check is not None else 0.0

    def polarity(self, sentence: str) -> float:
        """1.0 when it is a yes/no question and ``sentence`` says yes or no (a negation, a must, an only)."""
        return float(self.yes_no and says_yes_or_no(sentence))

    def missing_entities(self, vocabulary: frozenset[str], language: str | None = None) -> list[str]:
        """The names it asks about of which no word occurs in ``vocabulary``, a document's in ``language``.

        Names are checked only in a document of the question's own language: across languages a name
        is spelled differently ("Warsaw", "Warschau"), so its absence says nothing. An unknown
        document language (``None``) counts as the question's.
        """
        if not self.entities or not self.same_language(language):
            return []
        return missing_entities(self.entities, vocabulary)

    def same_language(self, language: str | None) -> bool:
        """True when a document in ``language`` (None: unknown) is in the question's language."""
        return language is None or language == self.language

    def may_be_in(self, language: str | None) -> bool:
        """True unless the question is surely not in ``language`` (None: unknown), its document's.

        Looser than :meth:`same_language`: a Spanish question taken for English (``guess_short``
        favours English) still matches Spanish documents as Spanish here (``language.may_be_in``).
        """
        if language is None or language == self.language:
            return True
        checked = self._languages_checked
        if language not in checked:
            checked[language] = may_be_in(self.text, language, self.language)
        return checked[language]

    @cached_property
    def _languages_checked(self) -> dict[str, bool]:
        """``may_be_in``'s answers so far, by language (each asked once per question)."""
        return {}

    def names_row_key(self, row: str) -> bool:
        """True when it names everything a table row's first cell names ("forum channels", ``row_key``)."""
        key = tokenize([row_key(row)])[0]
        return bool(key) and set(key) <= self.term_set

    def quotes(self, text: str) -> bool:
        """True when it quotes, in quote marks, three words or more of an error message ``text``.

        A pasted error message is the symptom the asker saw: the unit holding it matches the question
        best, yet the answer is what the document says to do about it. Code in backticks is not a quote:
        "how do I call `model.encode(x, batch_size=64)`" asks about that code.
        """
        if not self._quoted_messages or not _FAILURE.search(text):
            return False
        said = " ".join(re.findall(r"\w+", text.lower()))
        return any(f" {words} " in f" {said} " for words in self._quoted_messages)
