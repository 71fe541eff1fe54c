"""Readers of the reader corpus's sources: each turns one source folder into question groups.

The reader model scores (question, unit) pairs, so every candidate here is a unit as citebot itself
would cut it: documentation pages go through citebot's own parsers (``loaders.parse``), and the
sentence-level datasets (SQuAD, reviews, policies, papers) are cut as a plain-text document is
(``.txt``), so the model trains on the same kind of text it will score. A group is one question with
about eight candidates: its positive(s) first, then hard negatives from the same document (the units
around the answer, other sections, BM25's top units over the source's units, tokenised as citebot's
lexical index tokenises) and a random one. Units that also belong to the answer (the rest of an FAQ
answer, the other sentences an answer span covers) are left out rather than labelled 0: they are not
wrong, only not first.

Which source gets which reader is decided by its folder name and MANIFEST kind (``reader_for``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DocumentError
from ..index.lexical import tokenize
from ..ingest.loaders import parse

if TYPE_CHECKING:
    import bm25s

    from ..ingest.parsers.units import Unit
    from .reader_mining import MinedPool, RankerMiner

log = logging.getLogger(__name__)

#: Candidates per group: one positive (sometimes a few) and hard negatives.
GROUP_SIZE = 8
_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ReaderPiece:
    """A unit's fields that the reader sees (``kind``, ``text``, heading path, lead-in or header row)."""

    text: str
    kind: str = "sentence"
    section: tuple[str, ...] = ()
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A piece with its label (1: answers the question) and where it came from (``origin``)."""

    piece: ReaderPiece
    label: int
    origin: str


@dataclass(slots=True)
class Group:
    """One question and its candidates; no positive means the question is unanswerable.

    ``valid`` marks groups of a dataset's held-out file split (SelQA test, SubjQA dev, ...); whole
    held-out documentation projects are decided by the caller.
    """

    project: str
    source_kind: str
    question: str
    candidates: list[Candidate]
    valid: bool = False


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What every reader gets: the source folder, its seed, and how many groups it may make at most."""

    root: Path
    seed: int
    limit: int | None = None
    held_out: list[str] = field(default_factory=list)  # filled by readers: which file split is valid
    miner: RankerMiner | None = None  # mines documentation negatives with citebot's ranker

    def rng(self, *salt: object) -> random.Random:
        """A generator seeded by the run's seed, the source and ``salt``: independent of other sources."""
        return random.Random(":".join(str(s) for s in (self.seed, self.root.name, *salt)))

    def hashed(self, key: str) -> float:
        """A stable number in [0, 1) for ``key``, to choose held-out parts by seeded hash."""
        digest = hashlib.sha256(f"{self.seed}:{self.root.name}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64


def norm(text: str) -> str:
    """Lower-cased text with whitespace collapsed: two units that read the same are one candidate."""
    return _WS.sub(" ", text).strip().lower()


def piece_of(unit: Unit) -> ReaderPiece:
    """The reader-facing fields of a citebot unit."""
    return ReaderPiece(unit.text, unit.kind, tuple(unit.section), unit.context)


class Retriever:
    """BM25 (bm25s) over one pool of pieces, tokenised exactly as citebot's lexical index does."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self._bm25: bm25s.BM25 | None = None
        tokens = tokenize(list(texts)) if texts else []
        if any(tokens):
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokens, show_progress=False)

    def ranked(self, question_tokens: Sequence[str], k: int) -> list[int]:
        """Indices of the ``k`` best-scoring pieces (score > 0), best first; ties in pool order."""
        if self._bm25 is None:
            return []
        terms = [t for t in question_tokens if t in self._bm25.vocab_dict]
        if not terms:
            return []
        scores = np.asarray(self._bm25.get_scores(terms))
        order = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in order if scores[i] > 0]


def assemble(
    positives: Sequence[ReaderPiece],
    pools: Sequence[tuple[str, Sequence[ReaderPiece], int]],
    banned: set[str] | None = None,
    size: int = GROUP_SIZE,
) -> list[Candidate]:
    """A group's candidates: positives, then negatives from each ``(origin, pieces, quota)`` pool.

    Each pool gives up to its quota first, so every kind of hard negative is represented; the group
    is then filled up to ``size`` from the pools in order. Texts in ``banned`` (other units of the
    answer) and repeats are skipped, so a group never holds the same text twice.
    """
    seen = set(banned or ())
    out: list[Candidate] = []
    for p in positives:
        key = norm(p.text)
        if key and key not in seen:
            seen.add(key)
            out.append(Candidate(p, 1, "positive"))
    if not out and positives:
        return []
    for second_pass in (False, True):
        for origin, items, quota in pools:
            taken = 0
            for p in items:
                if len(out) >= size or (not second_pass and taken >= quota):
                    break
                key = norm(p.text)
                if key and key not in seen:
                    seen.add(key)
                    out.append(Candidate(p, 0, origin))
                    taken += 1
    return out


def sample(items: Sequence[Any], n: int, rng: random.Random) -> list[Any]:
    """Up to ``n`` items chosen at random, kept in their original order (so output order is stable)."""
    if len(items) <= n:
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), n))]


def text_units(text: str, name: str) -> list[Unit]:
    """Units of ``text`` read as a ``.txt`` document: citebot's sentence splitter, prose only."""
    try:
        return parse(text.encode("utf-8"), name, ".txt").units
    except DocumentError as exc:
        log.debug("%s", exc)
        return []


def holding(units: Sequence[Unit], start: int, end: int | None = None) -> list[int]:
    """Indices of the units that hold offset ``start`` (first) and those overlapping ``[start, end)``."""
    first = [i for i, u in enumerate(units) if u.start <= start < u.end]
    if not first:  # the offset fell in the whitespace between two sentences: take the next one
        first = [i for i, u in enumerate(units) if u.start > start][:1]
    if end is None:
        return first
    rest = [i for i, u in enumerate(units) if u.start < end and u.end > start and i not in first]
    return first + rest


def context_group(
    units: Sequence[Unit],
    question: str,
    positives: Sequence[int],
    banned: Sequence[int],
    retriever: Retriever | None,
    rng: random.Random,
    plausible: Sequence[int] = (),
) -> list[Candidate]:
    """Candidates from one passage's units: the answer sentence, its neighbours, BM25's best, random.

    ``plausible`` (SQuAD 2.0's plausible answer of an unanswerable question) is the hardest negative
    and goes first among them, tagged ``retriever``: a span a model might pick, yet no answer.
    """
    pieces = [piece_of(u) for u in units]
    anchor = [*positives, *plausible]
    near = sorted({j for i in anchor for j in (i - 1, i + 1) if 0 <= j < len(units)} - set(anchor))
    ranked: list[int] = []
    if retriever is not None:
        ranked = retriever.ranked(tokenize([question])[0], 3 * GROUP_SIZE)
    others = [i for i in range(len(units)) if i not in set(positives)]
    return assemble(
        [pieces[i] for i in positives],
        [
            ("retriever", [pieces[i] for i in plausible], GROUP_SIZE),
            ("neighbour", [pieces[i] for i in near], 2),
            ("retriever", [pieces[i] for i in ranked], 4),
            ("random", [pieces[i] for i in sample(others, 2 * GROUP_SIZE, rng)], GROUP_SIZE),
        ],
        {norm(units[i].text) for i in banned if i not in set(positives)},
    )


# --- documentation projects --------------------------------------------------------------------

_DOC_SUFFIXES = {".md", ".mdx", ".markdown", ".rst", ".txt", ".adoc", ".po"}
_LICENCE = re.compile(r"^(licen[cs]e|copying|notice)", re.IGNORECASE)
_QUESTION_WORDS = {
    "how", "what", "why", "can", "is", "do", "does", "should", "where", "when", "which", "who", "are",
    "will", "would", "could", "did", "has", "have", "was", "may", "must", "am", "shall", "whats",
}  # fmt: skip
#: Task headings' verbs, gerund and imperative, with the base form the question uses.
_TASK_VERBS = {
    "install": "install", "installing": "install", "configure": "configure", "configuring": "configure",
    "create": "create", "creating": "create", "use": "use", "using": "use", "run": "run",
    "running": "run", "add": "add", "adding": "add", "enable": "enable", "enabling": "enable",
    "disable": "disable", "disabling": "disable", "update": "update", "updating": "update",
    "upgrade": "upgrade", "upgrading": "upgrade", "remove": "remove", "removing": "remove",
    "uninstall": "uninstall", "uninstalling": "uninstall", "deploy": "deploy", "deploying": "deploy",
    "build": "build", "building": "build", "write": "write", "writing": "write", "test": "test",
    "testing": "test", "debug": "debug", "debugging": "debug", "migrate": "migrate",
    "migrating": "migrate", "customize": "customize", "customizing": "customize",
    "customise": "customise", "customising": "customise", "change": "change", "changing": "change",
    "manage": "manage", "managing": "manage", "handle": "handle", "handling": "handle",
    "define": "define", "defining": "define", "connect": "connect", "connecting": "connect",
    "start": "start", "starting": "start", "stop": "stop", "stopping": "stop", "convert": "convert",
    "converting": "convert", "import": "import", "importing": "import", "export": "export",
    "exporting": "export", "publish": "publish", "publishing": "publish", "register": "register",
    "registering": "register", "send": "send", "sending": "send", "delete": "delete",
    "deleting": "delete", "generate": "generate", "generating": "generate", "integrate": "integrate",
    "integrating": "integrate", "restore": "restore", "restoring": "restore", "extend": "extend",
    "extending": "extend", "specify": "specify", "specifying": "specify", "set": "set",
    "setting": "set", "get": "get", "getting": "get", "avoid": "avoid", "avoiding": "avoid",
    "check": "check", "checking": "check", "fix": "fix", "fixing": "fix", "troubleshoot": "troubleshoot",
    "troubleshooting": "troubleshoot", "secure": "secure", "securing": "secure",
}  # fmt: skip
#: Second words that make a heading starting with a question word read as a question.
_INVERSION = {
    "to", "do", "does", "did", "is", "are", "was", "were", "can", "could", "should", "would", "will",
    "may", "must", "i", "you", "we", "it", "much", "many", "long", "often", "kind", "type",
}  # fmt: skip
# An answer that only points elsewhere ("See :ref:`deploy`."): the next unit of the answer is taken.
_POINTER = re.compile(r"^(see|refer to|read)\b", re.IGNORECASE)
_HEADING_JUNK = re.compile(r"\s*\{#[^}]*\}\s*$|¶$|^\d+(\.\d+)*\.?\s+")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_INLINE_MARK = re.compile(r"`|\*\*|(?<!\w)_(?=\w)|(?<=\w)_(?!\w)")


def clean_heading(text: str) -> str:
    """A heading as a reader would type it: no anchors, numbering, links or inline-code marks."""
    text = _LINK.sub(r"\1", _WS.sub(" ", text).strip())
    text = _HEADING_JUNK.sub("", _INLINE_MARK.sub("", text)).strip()
    return text.rstrip(":").strip()


def question_of(heading: str) -> tuple[str, str] | None:
    """``(source_kind, question)`` for a question heading ("faq") or a task heading ("heading").

    Without a question mark a heading is a question only when it reads as one ("How to filter
    directories", "What is a scope"); "When Not To Use It" or "What the URLconf searches against" are
    statements that happen to start with a question word.
    """
    text = clean_heading(heading)
    words = re.findall(r"[\w']+", text.lower())
    if len(words) < 2 or len(text) > 200:
        return None
    first = words[0].replace("'", "")
    if words[:2] in (["what's", "new"], ["what", "is", "new"], ["whats", "new"]):
        return None
    asks = first in ("how", "why") or (first in _QUESTION_WORDS and words[1] in _INVERSION)
    if "?" in text or (asks and len(words) >= 3):
        return "faq", text
    verb = _TASK_VERBS.get(first)
    if verb is None or len(words) > 10 or (first in ("set", "setting") and words[1] != "up"):
        return None
    rest = text.split(None, 1)[1].rstrip(".") if " " in text else ""
    if first in ("set", "setting"):
        verb, rest = "set up", rest.split(None, 1)[1] if " " in rest else ""
    if not rest:
        return None
    # "Installing and running mypy": the second verb takes the base form too
    rest = re.sub(r"\b(and|or) (\w+ing)\b", lambda m: f"{m[1]} {_TASK_VERBS.get(m[2].lower(), m[2])}", rest)
    rest = re.sub(r"\byour\b", "my", re.sub(r"\byourself\b", "myself", rest))
    return "heading", f"How do I {verb} {rest}?"


# MyST / Docusaurus / Hugo / MDX syntax the Markdown parser would read as text or code.
_FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w:.-]+)\}\s*(.*)$")
_COLON_FENCE = re.compile(r"^\s*:{3,}[\w-]*.*$")
_OPTION = re.compile(r"^\s*:[\w-]+:.*$")
_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}")
_ROLE = re.compile(r"\{[\w:.-]+\}(`[^`]*`)")
_JSX_LINE = re.compile(r"^\s*(</?[A-Za-z][\w.]*(\s[^<>]*)?/?>\s*)+$")
_MDX_IMPORT = re.compile(r"^(import|export)\s")
_HEADING_ANCHOR = re.compile(r"^(\s{0,3}#{1,6}\s.*?)\s*\{#[^}]*\}\s*$")
_CODE_DIRECTIVES = {"code-block", "code", "sourcecode", "code-cell", "ipython"}
_DROP_DIRECTIVES = {
    "toctree", "contents", "include", "literalinclude", "image", "figure", "raw", "eval-rst",
    "mermaid", "autoclass", "automodule", "autofunction", "automethod", "autodata", "autosummary",
    "currentmodule", "module", "glossary", "only", "rubric", "jupyter-execute", "graphviz", "csv-table",
}  # fmt: skip


def clean_markdown(text: str, mdx: bool = False) -> str:
    """Markdown with site syntax stripped cheaply, so the parser sees only what the page shows.

    MyST directive fences become plain code fences (code directives), disappear (toctrees, includes,
    autodoc) or lose their fence and option lines (admonitions: their text stays); Docusaurus ``:::``
    lines, Hugo shortcodes, MyST roles' braces, MDX imports and lines holding only JSX tags go.
    """
    out: list[str] = []
    stack: list[tuple[str, str]] = []  # (closing fence, mode: code | drop | open)
    for line in text.split("\n"):
        if stack:
            closing, mode = stack[-1]
            if line.strip() == closing or (line.strip().startswith(closing[0] * 3) and not line.strip()[3:]):
                stack.pop()
                if mode == "code":
                    out.append("```")
                continue
            if mode == "drop":
                continue
            if mode == "open" and _OPTION.match(line) and out and (not out[-1].strip()):
                continue
        m = _FENCE_OPEN.match(line)
        if m and not (stack and stack[-1][1] == "code"):
            name = m.group(3).lower()
            fence = m.group(2)
            if name in _CODE_DIRECTIVES:
                stack.append((fence, "code"))
                out.append(f"{m.group(1)}```{m.group(4).split()[0] if m.group(4).split() else ''}")
            elif name in _DROP_DIRECTIVES or (stack and stack[-1][1] == "drop"):
                stack.append((fence, "drop"))
            else:
                stack.append((fence, "open"))
                out.append("")
            continue
        if _COLON_FENCE.match(line) or (mdx and _MDX_IMPORT.match(line)) or _JSX_LINE.match(line):
            out.append("")
            continue
        out.append(_HEADING_ANCHOR.sub(r"\1", _ROLE.sub(r"\1", _SHORTCODE.sub("", line))))
    return "\n".join(out)


_ADOC_TITLE = re.compile(r"^(=+)\s+(.+)$")
_ADOC_TERM = re.compile(r"^(\S.*?)::\s*$")
_ADOC_ATTR = re.compile(r"^(\[.*\]|:[\w-]+:.*|ifdef::.*|endif::.*|include::.*)$")


def adoc_to_markdown(text: str) -> str:
    """AsciiDoc as Markdown, roughly: titles, ``----`` blocks, ``term::`` entries (gitfaq's questions)."""
    out: list[str] = []
    in_code = False
    previous = ""
    for raw in text.split("\n"):
        line = raw.rstrip()
        if re.fullmatch(r"-{4,}|\.{4,}", line) and (in_code or not previous.strip() or previous == "+"):
            in_code = not in_code
            out.append("```")
        elif in_code:
            out.append(raw)
        elif m := _ADOC_TITLE.match(line):
            out.append(f"{'#' * len(m.group(1))} {m.group(2)}")
        elif _ADOC_ATTR.match(line) or line == "+":
            out.append("")
        elif m := _ADOC_TERM.match(line):
            out.extend(["", f"#### {m.group(1)}", ""])
        else:
            out.append(line.lstrip("\t"))
        previous = line
    return "\n".join(out)


_PO_ENTRY = re.compile(r'^msgid\s+"(.*)"\s*$')
_PO_MORE = re.compile(r'^"(.*)"\s*$')
_PO_REF = re.compile(r"^#:\s+(\S+?):\d+")


def po_documents(text: str) -> dict[str, str]:
    """English ``msgid`` strings of a gettext file as Markdown, one document per referenced page.

    Short msgids without a sentence's end are the pages' headings, and so are questions; the rest are
    paragraphs, in the file's order (which follows each page).
    """
    docs: dict[str, list[str]] = {}
    ref = "?"
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _PO_REF.match(line):
            ref = m.group(1)
        m = _PO_ENTRY.match(line)
        if not m:
            i += 1
            continue
        parts = [m.group(1)]
        i += 1
        while i < len(lines) and (more := _PO_MORE.match(lines[i])):
            parts.append(more.group(1))
            i += 1
        msg = "".join(parts).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\").strip()
        if not msg:
            continue
        page = docs.setdefault(ref, [])
        words = len(msg.split())
        if "\n" not in msg and (
            (msg.endswith("?") and words <= 30) or (words <= 12 and msg[-1] not in ".:;!)")
        ):
            page.append(f"{'#' if not page else '##'} {msg}")
        else:
            page.append(msg)
    return {ref: "\n\n".join(parts) for ref, parts in docs.items()}


def documents_in(path: Path) -> Iterator[tuple[str, str, str]]:
    """``(name, text, suffix to parse as)`` for one file; a gettext file gives one per page."""
    text = path.read_text(encoding="utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix == ".po":
        for ref, doc in po_documents(text).items():
            yield f"{path}#{ref}", doc, ".md"
    elif suffix == ".adoc":
        yield str(path), adoc_to_markdown(text), ".md"
    elif suffix in (".md", ".mdx", ".markdown"):
        yield str(path), clean_markdown(text, mdx=suffix == ".mdx"), ".md"
    else:
        yield str(path), text, suffix


def doc_files(root: Path) -> list[Path]:
    """The documentation files of a project folder, in a stable order, without licence files."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in _DOC_SUFFIXES and not _LICENCE.match(p.name)
    )


def read_docs(root: Path) -> tuple[list[list[ReaderPiece]], list[tuple[str, str, str]]]:
    """Every document of a project as citebot parses it: one list of pieces per document.

    Also returns the documents themselves (``(name, text, suffix)``, those that gave units), for a
    :class:`retrieval.tools.reader_mining.RankerMiner` to index.
    """
    docs, raw = [], []
    for path in doc_files(root):
        for name, text, suffix in documents_in(path):
            try:
                units = parse(text.encode("utf-8"), name, suffix).units
            except DocumentError as exc:
                log.info("%s", exc)
                continue
            if units:
                docs.append([piece_of(u) for u in units])
                raw.append((name, text, suffix))
    return docs, raw


def is_pointer(text: str) -> bool:
    """A unit that only sends the reader elsewhere ("See `issue 414`_."), no answer in itself."""
    return bool(_POINTER.match(text)) and len(text.split()) <= 8


def docs_groups(ctx: SourceContext) -> list[Group]:
    """Question headings (FAQ) and task headings of a documentation project, with hard negatives.

    With a miner in ``ctx``, the retrieval negatives are citebot's own ranker's best wrong units
    (origin ``ranker``) over the project's documents; without one, BM25's (origin ``retriever``).
    """
    docs, raw = read_docs(ctx.root)
    if ctx.miner is None or not raw:
        return _docs_groups(ctx, docs, None)
    with ctx.miner.pool(raw) as mined:
        return _docs_groups(ctx, docs, mined)


def _docs_groups(ctx: SourceContext, docs: list[list[ReaderPiece]], mined: MinedPool | None) -> list[Group]:
    pool = [p for doc in docs for p in doc]
    retriever = Retriever([p.text for p in pool]) if mined is None else None
    rng = ctx.rng("docs")
    wanted: list[tuple[int, tuple[str, ...], str, str]] = []
    for d, doc in enumerate(docs):
        seen: set[tuple[str, ...]] = set()
        questions: set[str] = set()
        for piece in doc:
            for depth in range(1, len(piece.section) + 1):
                path = piece.section[:depth]
                if path in seen:
                    continue
                seen.add(path)
                found = question_of(path[-1])
                if found and found[1].lower() not in questions:
                    questions.add(found[1].lower())
                    wanted.append((d, path, *found))
    tokens = tokenize([q for *_, q in wanted]) if wanted else []
    groups = []
    for (d, path, kind, question), q_tokens in zip(wanted, tokens, strict=True):
        doc = docs[d]
        inside = [i for i, p in enumerate(doc) if p.section[: len(path)] == path]
        if not inside:
            continue
        answer = set(inside)
        lead = next((i for i in inside if not is_pointer(doc[i].text)), None)
        if lead is None:
            continue
        near = [doc[i] for i in (inside[0] - 1, inside[-1] + 1) if 0 <= i < len(doc) and i not in answer]
        elsewhere = [i for i in range(len(doc)) if i not in answer]
        if mined is not None:
            origin, ranked = "ranker", mined.ranked(question, 3 * GROUP_SIZE)
        else:
            assert retriever is not None
            origin, ranked = "retriever", [pool[i] for i in retriever.ranked(q_tokens, 3 * GROUP_SIZE)]
        candidates = assemble(
            [doc[lead]],
            [
                ("neighbour", near, 2),
                (origin, ranked, 3),
                ("section", [doc[i] for i in sample(elsewhere, GROUP_SIZE, rng)], 1),
                ("random", sample(pool, 2 * GROUP_SIZE, rng), GROUP_SIZE),
            ],
            {norm(doc[i].text) for i in inside if i != lead},
        )
        if len(candidates) >= 2:
            groups.append(Group(ctx.root.name, kind, question, candidates))
        if ctx.limit is not None and len(groups) >= ctx.limit:
            break
    return groups


# --- answer selection ---------------------------------------------------------------------------

_DETOK = [
    (re.compile(r"\s+([.,;:!?%)\]}]|'s\b|n't\b|'re\b|'ve\b|'ll\b|'d\b|'m\b)"), r"\1"),
    (re.compile(r"([(\[{$])\s+"), r"\1"),
    (re.compile(r"``\s*|\s*''"), '"'),
    (re.compile(r"-LRB-\s*", re.IGNORECASE), "("),
    (re.compile(r"\s*-RRB-", re.IGNORECASE), ")"),
]


def detokenize(text: str) -> str:
    """Tokenised text ("it 's a test .") back to how a document would print it ("it's a test.")."""
    text = _WS.sub(" ", text).strip()
    for pattern, repl in _DETOK:
        text = pattern.sub(repl, text)
    return text[:1].upper() + text[1:]


def selection_group(
    project: str, kind: str, question: str, sentences: Sequence[ReaderPiece], labels: Sequence[int],
    rng: random.Random, valid: bool,
) -> Group | None:  # fmt: skip
    """An answer-selection question: labelled sentences positive, neighbours and BM25's best negative."""
    positives = [i for i, lab in enumerate(labels) if lab]
    near = sorted({j for i in positives for j in (i - 1, i + 1) if 0 <= j < len(sentences)} - set(positives))
    ranked = Retriever([p.text for p in sentences]).ranked(tokenize([question])[0], 3 * GROUP_SIZE)
    others = [i for i in range(len(sentences)) if i not in set(positives)]
    candidates = assemble(
        [sentences[i] for i in positives][:3],
        [
            ("neighbour", [sentences[i] for i in near], 2),
            ("retriever", [sentences[i] for i in ranked if i not in set(positives)], 4),
            ("random", [sentences[i] for i in sample(others, GROUP_SIZE, rng)], GROUP_SIZE),
        ],
        {norm(sentences[i].text) for i in positives[3:]},
    )
    if len(candidates) < 2:
        return None
    return Group(project, kind, question.strip(), candidates, valid)


def selqa_groups(ctx: SourceContext) -> list[Group]:
    """SelQA answer selection: every sentence of a Wikipedia section, the answer ones positive."""
    groups = []
    ctx.held_out.append("selqa: ass/selqa-ass-test.json")
    for split in ("dev", "test"):
        path = ctx.root / "ass" / f"selqa-ass-{split}.json"
        if not path.exists():
            continue
        rng = ctx.rng(split)
        for row in json.loads(path.read_text(encoding="utf-8"))[: ctx.limit]:
            section = (str(row.get("article", "")), str(row.get("section", "")))
            sentences = [
                ReaderPiece(str(c), "sentence", tuple(s for s in section if s)) for c in row["candidates"]
            ]
            answers = set(row.get("answers", []))
            labels = [int(i in answers) for i in range(len(sentences))]
            group = selection_group(
                ctx.root.name, "selqa", row["question"], sentences, labels, rng, split == "test"
            )
            if group:
                groups.append(group)
    return groups


def wikiqa_trecqa_groups(ctx: SourceContext) -> list[Group]:
    """WikiQA (line-aligned token files) and TrecQA (pseudo-XML) answer selection."""
    ctx.held_out.extend(["wikiqa: WikiQA/dev", "trecqa: TrecQA/data/DEV.xml"])
    groups = []
    for split in ("train", "dev"):
        folder = ctx.root / "WikiQA" / split
        if not (folder / "a.toks").exists():
            continue
        read = [
            (folder / n).read_text(encoding="utf-8").splitlines()
            for n in ("a.toks", "b.toks", "sim.txt", "id.txt")
        ]
        by_id: dict[str, tuple[str, list[ReaderPiece], list[int]]] = {}
        for q, s, label, qid in zip(*read, strict=False):
            entry = by_id.setdefault(qid, (detokenize(q), [], []))
            entry[1].append(ReaderPiece(detokenize(s)))
            entry[2].append(int(float(label) > 0))
        rng = ctx.rng("wikiqa", split)
        for question, sentences, labels in list(by_id.values())[: ctx.limit]:
            group = selection_group(ctx.root.name, "wikiqa", question, sentences, labels, rng, split == "dev")
            if group:
                groups.append(group)
    for split in ("TRAIN", "DEV", "TEST"):
        path = ctx.root / "TrecQA" / "data" / f"{split}.xml"
        if not path.exists():
            continue
        rng = ctx.rng("trecqa", split)
        for question, sentences, labels in trec_pairs(path.read_text(encoding="utf-8"))[: ctx.limit]:
            group = selection_group(ctx.root.name, "trecqa", question, sentences, labels, rng, split == "DEV")
            if group:
                groups.append(group)
    return groups


_TREC_BLOCK = re.compile(r"<(question|positive|negative)>\s*\n([^\n]*)")


def trec_pairs(text: str) -> list[tuple[str, list[ReaderPiece], list[int]]]:
    """TrecQA's ``<QApairs>`` blocks as (question, sentences, labels); each block's first line only."""
    out = []
    for block in text.split("<QApairs")[1:]:
        question, sentences, labels = "", [], []
        for tag, line in _TREC_BLOCK.findall(block):
            text_line = detokenize(line.replace("\t", " "))
            if tag == "question":
                question = text_line
            else:
                sentences.append(ReaderPiece(text_line))
                labels.append(int(tag == "positive"))
        if question and sentences:
            out.append((question, sentences, labels))
    return out


# --- extractive QA ------------------------------------------------------------------------------


def squad_questions(
    ctx: SourceContext, articles: Sequence[dict[str, Any]], kind: str, valid: Callable[[str], bool],
    whole_article: bool = False,
) -> list[Group]:  # fmt: skip
    """SQuAD-format articles: the sentence holding ``answer_start`` positive, the passage's others not.

    ``whole_article`` pools all paragraphs of an article (PolicyQA's segments are single sentences,
    COVID-QA's context is a whole paper): negatives then come from the whole document.
    """
    groups: list[Group] = []
    rng = ctx.rng(kind)
    for article in articles:
        title = str(article.get("title", ""))
        paragraphs = article["paragraphs"]
        units_of = [text_units(p["context"], title) for p in paragraphs]
        flat = [u for units in units_of for u in units]
        article_retriever = Retriever([u.text for u in flat]) if whole_article else None
        offset = 0
        for para, units in zip(paragraphs, units_of, strict=True):
            retriever = article_retriever or (
                Retriever([u.text for u in units]) if len(units) > GROUP_SIZE else None
            )
            pool = flat if whole_article else units
            for qa in para["qas"]:
                answers = qa.get("answers") or []
                impossible = bool(qa.get("is_impossible")) or not answers
                spans = qa.get("plausible_answers" if impossible else "answers") or []
                pos: list[int] = []
                banned: list[int] = []
                base = offset if whole_article else 0
                for a in spans:
                    start = int(a["answer_start"])
                    hit = holding(units, start, start + len(a.get("text", "")))
                    if hit and base + hit[0] not in pos:
                        pos.append(base + hit[0])
                    banned.extend(base + i for i in hit[1:])
                candidates = context_group(
                    pool, qa["question"], [] if impossible else pos, banned, retriever, rng,
                    plausible=pos if impossible else (),
                )  # fmt: skip
                if len(candidates) >= 2 and (impossible or candidates[0].label == 1):
                    groups.append(
                        Group(ctx.root.name, kind, qa["question"].strip(), candidates, valid(title))
                    )
                if ctx.limit is not None and len(groups) >= ctx.limit:
                    return groups
            offset += len(units)
    return groups


def squad_groups(ctx: SourceContext) -> list[Group]:
    """Filtered SQuAD 2.0 dev: answerable and unanswerable questions (all in training)."""
    path = ctx.root / "dev-v2.0.filtered.json"
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return squad_questions(ctx, data, "squad", _constant(False))


def _constant(value: bool) -> Callable[[str], bool]:
    """A held-out test on article titles that answers ``value`` for every one (a whole file's split)."""
    return lambda _title: value


def policyqa_groups(ctx: SourceContext) -> list[Group]:
    """PolicyQA (privacy policies, SQuAD v1): negatives from the whole policy; test file held out."""
    ctx.held_out.append("policyqa: data/test.json")
    groups = []
    for split in ("dev", "test"):
        path = ctx.root / "data" / f"{split}.json"
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
            held = _constant(split == "test")
            groups += squad_questions(ctx, data, "policyqa", held, whole_article=True)
    return groups


def covidqa_groups(ctx: SourceContext) -> list[Group]:
    """COVID-QA: whole papers as contexts, so BM25 picks the negatives; ~10% of papers held out."""
    path = ctx.root / "data" / "question-answering" / "200423_covidQA.json"
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    for n, article in enumerate(data):
        article.setdefault("title", f"paper-{n}")
    held = {str(a["title"]) for a in data if ctx.hashed(str(a["title"])) < 0.1}
    ctx.held_out.append(f"covid-qa: {len(held)} papers chosen by seeded hash")
    return squad_questions(ctx, data, "covidqa", lambda title: title in held, whole_article=True)


_SPAN = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def subjqa_answer(row: dict[str, str]) -> tuple[str, tuple[int, int] | None]:
    """A SubjQA row's review (its "ANSWERNOTFOUND" marker cut) and answer span; None: unanswerable."""
    review = row["review"].removesuffix("ANSWERNOTFOUND").rstrip()
    if row.get("human_ans_spans", "") == "ANSWERNOTFOUND":
        return review, None
    m = _SPAN.search(row.get("human_ans_indices", ""))
    return review, (int(m.group(1)), int(m.group(2))) if m else None


def subjqa_groups(ctx: SourceContext) -> list[Group]:
    """SubjQA review QA: sentence holding the span positive; ANSWERNOTFOUND means unanswerable."""
    ctx.held_out.append("subjqa: SubjQA/*/splits/dev.csv")
    csv.field_size_limit(1 << 24)
    groups = []
    for path in sorted((ctx.root / "SubjQA").glob("*/splits/*.csv")):
        rng = ctx.rng(path.parent.parent.name, path.stem)
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in sample(rows, ctx.limit, rng) if ctx.limit else rows:
            review, span = subjqa_answer(row)
            units = text_units(review, "review")
            pos: list[int] = []
            banned: list[int] = []
            if span is not None:
                hit = holding(units, *span)
                pos, banned = hit[:1], hit[1:]
                if not pos:
                    continue
            retriever = Retriever([u.text for u in units]) if len(units) > GROUP_SIZE else None
            candidates = context_group(units, row["question"], pos, banned, retriever, rng)
            if len(candidates) >= 2:
                groups.append(
                    Group(ctx.root.name, "subjqa", row["question"].strip(), candidates, path.stem == "dev")
                )
    return groups


def _emanual_questions(ctx: SourceContext, stem: str) -> list[tuple[str, str, str]]:
    """``(question, answer, section path)`` of one manual: its CSV, and for the TV remote the zip's JSON."""
    rows: list[tuple[str, str, str]] = []
    path = ctx.root / "data" / f"{stem}_50_questions.csv"
    if path.exists():
        with path.open(encoding="utf-8", newline="") as f:
            rows += [(r["question"], r["answer"], r["section_path"]) for r in csv.DictReader(f)]
    if stem == "smart_tv_remote":
        for extra in sorted((ctx.root / "data" / "smart_remote_QA.zip.extracted").glob("*/*.json")):
            try:
                data = json.loads(extra.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:  # one of the zip's files is not valid JSON
                log.warning("%s: not valid JSON (%s), skipped", extra, exc)
                continue
            rows += [
                (str(r.get("Question", "")), str(r.get("Answer", "")), str(r.get("Section Hierarchy", "")))
                for entries in data.values()
                if isinstance(entries, list)
                for r in entries
                if isinstance(r, dict)
            ]
    return [r for r in rows if r[0].strip() and r[1].strip()]


def emanual_groups(ctx: SourceContext) -> list[Group]:
    """E-manual QA: the answer is a manual section; positive = its first substantial manual sentence.

    The answer text is the section's lines run together, so the positive is taken from the manual
    itself (the first line of at least six words that the answer contains; else the answer sentence
    sharing most words with the question). The answer's other lines are left out, not negatives.
    """
    groups = []
    ctx.held_out.append("emanual: smart_tv_remote questions")
    for stem in ("s10", "smart_tv_remote"):
        c_path = ctx.root / "data" / f"{stem}_manual_corpus.json"
        if not c_path.exists():
            continue
        manual = json.loads(c_path.read_text(encoding="utf-8"))
        pool = [ReaderPiece(_WS.sub(" ", str(t)).strip(), "sentence", (str(s.get("title", "")),))
                for s in manual.values() for t in s.get("text", []) if len(str(t).split()) >= 4]  # fmt: skip
        retriever = Retriever([p.text for p in pool])
        rng = ctx.rng(stem)
        for question, answer, section in _emanual_questions(ctx, stem)[: ctx.limit]:
            flat = norm(answer)
            inside = [p for p in pool if norm(p.text) in flat]
            lead = [p for p in inside if len(p.text.split()) >= 6]
            if lead:
                positive = lead[0]
            else:
                units = text_units(answer, "answer")
                if not units:
                    continue
                q_words = set(tokenize([question])[0])
                best = max(units, key=lambda u: len(set(tokenize([u.text])[0]) & q_words))
                positive = ReaderPiece(best.text, "sentence", (section.split(">")[-1],))
            ranked = [pool[i] for i in retriever.ranked(tokenize([question])[0], 4 * GROUP_SIZE)]
            candidates = assemble(
                [positive],
                [("retriever", ranked, 5), ("random", sample(pool, 2 * GROUP_SIZE, rng), GROUP_SIZE)],
                {norm(p.text) for p in inside if p is not positive},
            )
            candidates = [c for c in candidates if c.label or norm(c.piece.text) not in flat]
            if len(candidates) >= 2:
                groups.append(Group(ctx.root.name, "emanual", question.strip(), candidates, stem != "s10"))
    return groups


# --- long-form answers and commands -------------------------------------------------------------


def ragqa_groups(ctx: SourceContext) -> list[Group]:
    """RAG-QA Arena: question → first sentence of its human answer; other answers' sentences negative."""
    files = sorted((ctx.root / "data").glob("annotations_*_with_citation.jsonl"))
    domains = [p.name.split("_")[1] for p in files]
    held = min(domains, key=ctx.hashed) if domains else ""
    ctx.held_out.append(f"ragqa: domain {held}")
    groups = []
    for path, domain in zip(files, domains, strict=True):
        rng = ctx.rng(domain)
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = sample(rows, ctx.limit, rng) if ctx.limit else rows
        answers = [[piece_of(u) for u in text_units(str(r.get("answer", "")), "answer")] for r in rows]
        owner = [n for n, a in enumerate(answers) for _ in a]
        pool = [p for a in answers for p in a]
        retriever = Retriever([p.text for p in pool])
        tokens = tokenize([str(r["question"]) for r in rows])
        for n, (row, answer, q_tokens) in enumerate(zip(rows, answers, tokens, strict=True)):
            if not answer:
                continue
            ranked = [pool[i] for i in retriever.ranked(q_tokens, 4 * GROUP_SIZE) if owner[i] != n]
            others = [pool[i] for i in sample(range(len(pool)), 3 * GROUP_SIZE, rng) if owner[i] != n]
            candidates = assemble(
                answer[:1],
                [("retriever", ranked, 5), ("random", others, GROUP_SIZE)],
                {norm(p.text) for p in answer[1:]},
            )
            if len(candidates) >= 2:
                groups.append(
                    Group(ctx.root.name, "ragqa", str(row["question"]).strip(), candidates, domain == held)
                )
    return groups


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_TLDR_KEYS = re.compile(r"\[(\w{1,3})\]")


def tldr_page(text: str) -> tuple[str, list[tuple[str, str]]]:
    """A tldr page's tool name and its (description, command) pairs, site syntax removed.

    Commands lose tldr's backticks and ``{{placeholder}}`` braces, as a docs page's code block shows
    them (citebot cites those as ``code`` units); descriptions lose the ``[c]reate`` key marks.
    """
    tool = ""
    pairs = []
    description = ""
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("# ") and not tool:
            tool = line[2:].strip()
        elif line.startswith("- "):
            description = _TLDR_KEYS.sub(r"\1", line[2:]).strip().rstrip(":").strip()
        elif line.startswith("`") and line.endswith("`") and description:
            pairs.append((description, _PLACEHOLDER.sub(r"\1", line[1:-1]).strip()))
            description = ""
    return tool, pairs


def _request(description: str, tool: str, as_question: bool) -> str:
    """A tldr description as a user asks it: half "How do I ... with tool?", half as written."""
    if not as_question:
        return description
    return f"How do I {description[:1].lower()}{description[1:]} with {tool}?"


def tldr_groups(ctx: SourceContext) -> list[Group]:
    """The tldr pages: description → its command; the page's other commands are the (very hard) negatives."""
    pages = sorted((ctx.root / "pages").glob("*/*.md"))
    ctx.held_out.append("tldr: ~10% of pages chosen by seeded hash")
    rng = ctx.rng("tldr")
    parsed = [(path, *tldr_page(path.read_text(encoding="utf-8"))) for path in pages]
    every = [ReaderPiece(cmd, "code", (tool,)) for _, tool, pairs in parsed for _, cmd in pairs]
    groups = []
    for path, tool, pairs in parsed:
        commands = [ReaderPiece(cmd, "code", (tool,)) for _, cmd in pairs]
        held = ctx.hashed(f"{path.parent.name}/{path.stem}") < 0.1
        for n, (description, _) in enumerate(pairs):
            others = commands[:n] + commands[n + 1 :]
            candidates = assemble(
                [commands[n]],
                [("section", others, GROUP_SIZE), ("random", sample(every, GROUP_SIZE, rng), GROUP_SIZE)],
            )
            question = _request(description, tool or path.stem, rng.random() < 0.5)
            if len(candidates) >= 2:
                groups.append(Group(ctx.root.name, "tldr", question, candidates, held))
    return groups


_ENV = re.compile(r"^\w+=\S*$")


def utility(command: str) -> str:
    """The program a bash one-liner runs first (past ``sudo``, ``env`` and variable assignments)."""
    for word in command.split():
        if word in ("sudo", "env", "time", "nohup") or _ENV.match(word):
            continue
        return word.split("/")[-1]
    return ""


def nl2bash_groups(ctx: SourceContext) -> list[Group]:
    """NL2Bash: description → command; other commands of the same utility are the negatives."""
    folder = ctx.root / "data" / "bash"
    nls = (folder / "all.nl").read_text(encoding="utf-8").splitlines()
    cms = (folder / "all.cm").read_text(encoding="utf-8").splitlines()
    pairs = [(nl.strip(), cm.strip()) for nl, cm in zip(nls, cms, strict=False) if nl.strip() and cm.strip()]
    by_tool: dict[str, list[str]] = {}
    for _, cm in pairs:
        by_tool.setdefault(utility(cm), []).append(cm)
    ctx.held_out.append("nl2bash: ~10% of utilities chosen by seeded hash")
    rng = ctx.rng("nl2bash")
    everything = [cm for _, cm in pairs]
    groups = []
    for nl, cm in pairs:
        tool = utility(cm)
        same = [ReaderPiece(c, "code") for c in sample(by_tool[tool], 3 * GROUP_SIZE, rng) if c != cm]
        candidates = assemble(
            [ReaderPiece(cm, "code")],
            [
                ("section", same, 5),
                ("random", [ReaderPiece(c, "code") for c in sample(everything, GROUP_SIZE, rng)], 8),
            ],
        )
        if len(candidates) >= 2:
            groups.append(Group(ctx.root.name, "nl2bash", nl, candidates, ctx.hashed(tool) < 0.1))
    return groups


_DATASETS: dict[str, Callable[[SourceContext], list[Group]]] = {
    "selqa": selqa_groups,
    "wikiqa-trecqa": wikiqa_trecqa_groups,
    "squad2-dev-filtered": squad_groups,
    "subjqa": subjqa_groups,
    "policyqa": policyqa_groups,
    "covid-qa": covidqa_groups,
    "emanual-qa": emanual_groups,
    "rag-qa-arena": ragqa_groups,
    "tldr": tldr_groups,
    "nl2bash": nl2bash_groups,
}
DOC_KINDS = ("faq-docs", "docs")


def reader_for(name: str, kind: str) -> Callable[[SourceContext], list[Group]] | None:
    """The reader of a source, by MANIFEST kind (documentation) or folder name (datasets)."""
    if kind in DOC_KINDS:
        return docs_groups
    return _DATASETS.get(name)
