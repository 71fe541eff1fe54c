"""QA sets made from the reader corpus, so the ranker's logit can be fitted on many projects' questions.

Usage::

    python -m retrieval.tools.corpus_sets --corpus CORPUS_DIR --out DIR [--split train|valid]
        [--questions N] [--exclude EVAL_DOCS_DIR ...] [--seed S]

Why: the ranker's weights (``rank/weights.json``) were fitted on docs-dev and squad-dev alone, 904
questions over 36 documents, and whatever those sets reward the weights learn, including what holds
only for them. The reader corpus has thousands of questions over documents from about a hundred
projects. This tool writes them in the evaluation sets' own format (``docs/`` and ``questions.jsonl``,
see the shared eval README), one set per source, so that ``python -m retrieval.tools.tune`` fits the
logit on them exactly as it fits on docs-dev: same ingest, same candidates, same features.

What each source becomes:

* documentation projects: a question heading ("How do I ...?") is taken out of its document and asked;
  its evidence is the first unit of its answer, which now sits under the parent heading, as an answer
  does in documentation that was not written as an FAQ. A task heading ("Installing X") stays and is
  asked as "How do I install X?" (a minority: task-heading questions are at most a fifth of a project's).
  Each project's documents with questions are kept, plus a few others as distractors.
* SQuAD 2.0 (filtered), PolicyQA, COVID-QA: each article, policy or paper is a ``.txt`` document;
  evidence is the answer span itself, so the unit holding it is gold. SQuAD's unanswerable questions
  stay unanswerable.
* SubjQA: each review is a document; "ANSWERNOTFOUND" questions are unanswerable.
* tldr: each page becomes a Markdown page (description, then the command in a code block); the
  question is the description, as a request; the evidence is the command line.

``--split train`` (default) writes the projects and file splits that ``reader_data`` trains on;
``--split valid`` writes its held-out projects and splits, for scoring a fit on projects it never saw.
No document sharing text with an ``--exclude`` folder is written (the same shingle test as
``reader_data``). Every choice is seeded.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DocumentError
from ..ingest.loaders import parse
from .reader_data import EvalFilter, held_out_projects, manifest
from .reader_sources import (
    DOC_KINDS,
    clean_heading,
    doc_files,
    documents_in,
    is_pointer,
    question_of,
    subjqa_answer,
    tldr_page,
)

log = logging.getLogger(__name__)

#: Questions per source at most (chosen by seeded sample), so no source outweighs the others.
QUESTIONS = 300
#: Questions per documentation project at most: there are about ninety of them.
DOC_QUESTIONS = 60
#: Documents without questions added to a documentation project's set, as distractors.
DISTRACTORS = 8
#: Share of a project's questions that may come from task headings (silver questions).
HEADING_SHARE = 0.2
_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", re.MULTILINE)
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")


@dataclass
class QASet:
    """One set being written: its documents (``doc_id`` → text, suffix) and its questions."""

    name: str
    docs: dict[str, tuple[str, str]] = field(default_factory=dict)
    questions: list[dict[str, Any]] = field(default_factory=list)

    def add_question(
        self,
        doc_id: str,
        question: str,
        spans: Sequence[tuple[int, int]],
        kind: str,
        answer_end: int | None = None,
    ) -> None:
        """A question about ``doc_id``; no ``spans``: unanswerable.

        ``answer_end``: where the whole answer ends (an FAQ answer or a section runs past its first unit);
        the units between the evidence and it also answer, so a tool mining negatives must skip them.
        The scorer ignores the field.
        """
        text = self.docs[doc_id][0]
        evidence = [{"start": s, "end": e, "text": text[s:e]} for s, e in spans]
        self.questions.append(
            {
                "id": f"{self.name}-q{len(self.questions) + 1}",
                "question": question.strip(),
                "answers": [],
                "doc_id": doc_id,
                "answerable": bool(spans),
                "kind": kind,
                "evidence": evidence,
                **({"answer_end": answer_end} if answer_end is not None else {}),
            }
        )

    def write(self, out: Path) -> int:
        """Write ``out/docs`` and ``out/questions.jsonl`` (only documents a question or distractor needs)."""
        (out / "docs").mkdir(parents=True, exist_ok=True)
        for doc_id, (text, suffix) in self.docs.items():
            path = out / "docs" / f"{doc_id}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        with (out / "questions.jsonl").open("w", encoding="utf-8") as f:
            for q in self.questions:
                f.write(json.dumps(q, ensure_ascii=False) + "\n")
        return len(self.questions)


@dataclass(frozen=True)
class Job:
    """What a source's writer needs: its folder, the split wanted, a seeded generator and the filter."""

    root: Path
    valid: bool
    rng: random.Random
    evalfilter: EvalFilter
    questions: int


# --- documentation projects --------------------------------------------------------------------


def _headings(text: str, suffix: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, title)`` of each heading's source lines (Markdown ATX or reST underlined)."""
    if suffix == ".md":
        for m in _MD_HEADING.finditer(text):
            yield m.start(), min(m.end() + 1, len(text)), m.group(2)
        return
    if suffix == ".rst":
        lines = text.splitlines(keepends=True)
        pos = 0
        for n, line in enumerate(lines):
            nxt = lines[n + 1] if n + 1 < len(lines) else ""
            title = line.strip()
            if title and _RST_UNDERLINE.match(nxt) and len(nxt.strip()) >= len(title):
                yield pos, pos + len(line) + len(nxt), title
            pos += len(line)


def faq_document(text: str, suffix: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The document with its question headings taken out, and where each one was.

    Returns the new text and ``(offset, next_heading_offset, question)`` per removed heading, offsets
    into the new text: the answer is the first unit between the two.
    """
    found = list(_headings(text, suffix))
    keep: list[str] = []
    removed: list[tuple[int, str]] = []
    starts: list[int] = []
    last = 0
    length = 0
    for s, e, title in found:
        keep.append(text[last:s])
        length += s - last
        q = question_of(clean_heading(title))
        if q is not None and q[0] == "faq":
            removed.append((length, q[1]))
            keep.append("\n")
            length += 1
        else:
            starts.append(length)
            keep.append(text[s:e])
            length += e - s
        last = e
    keep.append(text[last:])
    new = "".join(keep)
    out = []
    for offset, question in removed:
        nxt = min([p for p in starts if p > offset] + [o for o, _ in removed if o > offset] + [len(new)])
        out.append((offset, nxt, question))
    return new, out


def docs_set(job: Job, qa: QASet) -> None:
    """A documentation project: FAQ headings removed and asked; task headings asked; distractors."""
    asked: list[tuple[str, str, tuple[int, int, int], str]] = []
    spare: list[tuple[str, str, str]] = []
    for path in doc_files(job.root):
        for name, raw, suffix in documents_in(path):
            if job.evalfilter.overlaps(raw):
                continue
            text, removed = faq_document(raw, suffix)
            try:
                units = parse(text.encode("utf-8"), name, suffix).units
            except DocumentError as exc:
                log.info("%s", exc)
                continue
            doc_id = re.sub(r"[^\w.-]+", "_", str(Path(name).relative_to(job.root)))[:120]
            found: list[tuple[str, tuple[int, int, int], str]] = []
            for offset, nxt, question in removed:
                lead = next((u for u in units if offset <= u.start < nxt and not is_pointer(u.text)), None)
                if lead is not None:
                    found.append((question, (lead.start, lead.end, nxt), "faq"))
            seen: set[tuple[str, ...]] = set()
            for u in units:
                if not u.section or u.section in seen:
                    continue
                seen.add(u.section)
                q = question_of(u.section[-1])
                if q is not None and q[0] == "heading" and not is_pointer(u.text):
                    end = max(v.end for v in units if v.section[: len(u.section)] == u.section)
                    found.append((q[1], (u.start, u.end, end), "heading"))
            if found:
                asked += [(doc_id, q, span, kind) for q, span, kind in found]
                qa.docs[doc_id] = (text, suffix)
            elif units:
                spare.append((doc_id, text, suffix))
    faq = [a for a in asked if a[3] == "faq"]
    heading = [a for a in asked if a[3] == "heading"]
    n_heading = min(len(heading), int(HEADING_SHARE * max(len(faq), 1) / (1 - HEADING_SHARE)) + 1)
    chosen = _sample(faq, min(job.questions, DOC_QUESTIONS), job.rng) + _sample(heading, n_heading, job.rng)
    used = {doc_id for doc_id, *_ in chosen}
    qa.docs = {d: v for d, v in qa.docs.items() if d in used}
    for doc_id, text, suffix in _sample(spare, DISTRACTORS, job.rng):
        qa.docs.setdefault(doc_id, (text, suffix))
    for doc_id, question, (start, end, answer_end), kind in chosen:
        shape = "heading" if kind == "heading" else "prose"
        qa.add_question(doc_id, question, [(start, end)], shape, answer_end)


def _sample(items: Sequence[Any], n: int, rng: random.Random) -> list[Any]:
    return list(items) if len(items) <= n else rng.sample(list(items), n)


# --- extractive sets ---------------------------------------------------------------------------


def squad_articles(
    job: Job, articles: Sequence[dict[str, Any]], prefix: str, keep: Callable[[str], bool]
) -> QASet:
    """SQuAD-format articles as ``.txt`` documents (paragraphs apart); evidence is the answer span."""
    qa = QASet(prefix)
    pending: list[tuple[str, str, list[tuple[int, int]]]] = []
    for n, article in enumerate(articles):
        title = str(article.get("title") or f"{prefix}-{n}")
        if not keep(title):
            continue
        text, offsets = "", []
        for para in article["paragraphs"]:
            if text:
                text += "\n\n"
            offsets.append(len(text))
            text += para["context"]
        if job.evalfilter.overlaps(text):
            continue
        doc_id = f"{prefix}-{n:04d}"
        qa.docs[doc_id] = (text, ".txt")
        for base, para in zip(offsets, article["paragraphs"], strict=True):
            for q in para["qas"]:
                answers = [] if q.get("is_impossible") else (q.get("answers") or [])
                spans = [
                    (base + int(a["answer_start"]), base + int(a["answer_start"]) + len(a["text"]))
                    for a in answers[:1]
                ]
                pending.append((doc_id, q["question"], spans))
    for doc_id, question, spans in _sample(pending, job.questions, job.rng):
        qa.add_question(doc_id, question, spans, "prose")
    used = {q["doc_id"] for q in qa.questions}
    qa.docs = {d: v for d, v in qa.docs.items() if d in used}
    return qa


def squad_set(job: Job) -> QASet | None:
    """Filtered SQuAD 2.0 dev (all of it trains ``reader_data``; no valid split)."""
    if job.valid:
        return None
    data = json.loads((job.root / "dev-v2.0.filtered.json").read_text(encoding="utf-8"))["data"]
    return squad_articles(job, data, "squad", lambda _t: True)


def policyqa_set(job: Job) -> QASet:
    """PolicyQA: dev policies train, test policies are held out (as in ``reader_data``)."""
    split = "test" if job.valid else "dev"
    data = json.loads((job.root / "data" / f"{split}.json").read_text(encoding="utf-8"))["data"]
    return squad_articles(job, data, "policyqa", lambda _t: True)


def covidqa_set(job: Job, hashed: Callable[[str], float]) -> QASet:
    """COVID-QA papers; the ~10% chosen by ``reader_data``'s seeded hash are the held-out ones."""
    path = job.root / "data" / "question-answering" / "200423_covidQA.json"
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    for n, article in enumerate(data):
        article.setdefault("title", f"paper-{n}")
    return squad_articles(job, data, "covidqa", lambda t: (hashed(t) < 0.1) == job.valid)


def subjqa_set(job: Job) -> QASet:
    """SubjQA reviews as documents; train/test splits train, dev is held out."""
    qa = QASet("subjqa")
    csv.field_size_limit(1 << 24)
    rows: list[dict[str, str]] = []
    for path in sorted((job.root / "SubjQA").glob("*/splits/*.csv")):
        if (path.stem == "dev") != job.valid:
            continue
        with path.open(encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    for n, row in enumerate(_sample(rows, job.questions, job.rng)):
        review, span = subjqa_answer(row)
        if not review or job.evalfilter.overlaps(review):
            continue
        doc_id = f"subjqa-{n:04d}"
        qa.docs[doc_id] = (review, ".txt")
        spans: list[tuple[int, int]] = []
        if span is not None:
            start, end = span[0], min(span[1], len(review))
            if end <= start:
                continue
            spans = [(start, end)]
        qa.add_question(doc_id, row["question"], spans, "prose")
    used = {q["doc_id"] for q in qa.questions}
    qa.docs = {d: v for d, v in qa.docs.items() if d in used}
    return qa


def tldr_set(job: Job, hashed: Callable[[str], float]) -> QASet:
    """The tldr pages as Markdown pages with code blocks; the held-out pages are ``reader_data``'s ~10%."""
    qa = QASet("tldr")
    pages = [
        p
        for p in sorted((job.root / "pages").glob("*/*.md"))
        if (hashed(f"{p.parent.name}/{p.stem}") < 0.1) == job.valid
    ]
    asked: list[tuple[str, str, tuple[int, int]]] = []
    for path in _sample(pages, job.questions, job.rng):
        tool, pairs = tldr_page(path.read_text(encoding="utf-8"))
        if not pairs:
            continue
        text = f"# {tool or path.stem}\n\n"
        spans = []
        for description, command in pairs:
            text += f"{description}:\n\n```\n"
            spans.append((len(text), len(text) + len(command)))
            text += f"{command}\n```\n\n"
        doc_id = f"{path.parent.name}-{path.stem}"
        qa.docs[doc_id] = (text, ".md")
        n = job.rng.randrange(len(pairs))
        description = pairs[n][0]
        question = f"How do I {description[:1].lower()}{description[1:]} with {tool or path.stem}?"
        asked.append((doc_id, question, spans[n]))
    for doc_id, question, span in asked:
        qa.add_question(doc_id, question, [span], "code")
    return qa


def _hasher(seed: int, source: str) -> Callable[[str], float]:
    """``reader_data``'s held-out choice for a source (the same seeded hash as ``SourceContext.hashed``)."""
    from .reader_sources import SourceContext

    return SourceContext(Path(source), seed).hashed


def build(
    corpus: Path, out: Path, *, valid: bool, seed: int, questions: int, exclude: Sequence[Path]
) -> dict[str, int]:
    """Write one QA set per source under ``out``; the number of questions of each."""
    sources = manifest(corpus)
    held = set(held_out_projects(sources, seed))
    evalfilter = EvalFilter(exclude)
    written: dict[str, int] = {}
    for name, kind in sources:
        root = corpus / name
        if not root.is_dir():
            continue
        job = Job(root, valid, random.Random(f"{seed}:{name}"), evalfilter, questions)
        qa: QASet | None
        if kind in DOC_KINDS:
            if (name in held) != valid:
                continue
            qa = QASet(name)
            docs_set(job, qa)
        elif name == "squad2-dev-filtered":
            qa = squad_set(job)
        elif name == "policyqa":
            qa = policyqa_set(job)
        elif name == "covid-qa":
            qa = covidqa_set(job, _hasher(seed, name))
        elif name == "subjqa":
            qa = subjqa_set(job)
        elif name == "tldr":
            qa = tldr_set(job, _hasher(seed, name))
        else:
            continue
        if qa is not None and qa.questions:
            written[name] = qa.write(out / name)
            log.info("%s: %d questions over %d documents", name, written[name], len(qa.docs))
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="The reader corpus (with MANIFEST.tsv).")
    parser.add_argument("--out", type=Path, required=True, help="Folder to write one QA set per source in.")
    parser.add_argument(
        "--split", choices=("train", "valid"), default="train", help="Which projects to write."
    )
    parser.add_argument("--questions", type=int, default=QUESTIONS, help="Most questions per source.")
    parser.add_argument(
        "--exclude", type=Path, action="append", default=[], help="Evaluation documents to avoid."
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="Seed of every choice (reader_data's default: 0)."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (args.corpus / "MANIFEST.tsv").is_file():
        parser.exit(1, f"corpus_sets: {args.corpus} has no MANIFEST.tsv\n")
    written = build(
        args.corpus, args.out, valid=args.split == "valid", seed=args.seed, questions=args.questions,
        exclude=args.exclude,
    )  # fmt: skip
    print(json.dumps({"sets": len(written), "questions": sum(written.values()), "by_set": written}))  # noqa: T201


if __name__ == "__main__":
    main()
