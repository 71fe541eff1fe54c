"""The data shapes: a question's request, the evidence found, and the cited answer.

A unit travels one way: the catalog's row becomes ``Evidence`` in the ranker (rank/ranker.py,
``to_evidence``) and a cited ``Evidence`` becomes a ``Citation`` in the answer (answer/extractive.py,
``to_citations``), which is also where its link is made. What the ranker returns for a query is
``rank.ranker.Retrieved``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: What a citable unit is: a prose sentence, a list item, a numbered step, a table row, or code.
UnitKind = Literal["sentence", "list_item", "table_row", "code", "step"]


class Citation(BaseModel):
    """One cited unit (sentence, list item, table row, code, step): ``text == document_text[start:end]``."""

    n: int = Field(description="The marker number used in the answer text, [n].")
    doc_id: str = Field(description="Path of the file relative to the ingested folder, without extension.")
    source: str = Field(description="Where the document came from: a file path, an upload's name, or a URL.")
    title: str
    start: int
    end: int
    text: str
    score: float = Field(description="The ranker's probability (0-1) that this sentence is the evidence.")
    kind: UnitKind = Field(default="sentence", description="What the cited text is in its document.")
    section: list[str] = Field(
        default_factory=list, description="The headings above the cited text, outermost first."
    )
    page: int | None = Field(default=None, description="The 1-based page, for paged formats (PDF).")
    context: str | None = Field(
        default=None,
        description="Verbatim text the citation needs to be read: a list's lead-in or a table's header row.",
    )
    url: str | None = Field(
        default=None,
        description="A link to the cited text: a message's own link, or its web page's address with a text "
        "fragment (#:~:text=) that highlights it (#page=N for a PDF); None for local files.",
    )
    language: str | None = Field(
        default=None,
        description="The cited document's language as detected at ingest (ISO 639-1, such as 'de'); None "
        "when unknown. The text is quoted verbatim in that language.",
    )


class Answer(BaseModel):
    """An answer and the sentences that support it; a refusal has no citations."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, object]:
        """The ``citebot ask --json`` shape."""
        return self.model_dump(mode="json")


class Query(BaseModel):
    """What the chain is asked: the question, which scopes to search, and earlier turns for follow-ups."""

    question: str
    scopes: list[str] | None = Field(
        default=None, description="Search only documents of these scopes (None: every scope)."
    )
    history: list[str] = Field(default_factory=list, description="Earlier questions of the conversation.")
    documents: list[str] | None = Field(
        default=None,
        description="Search only these documents (keys), within the scopes (None: every document).",
    )


class Evidence(BaseModel):
    """A ranked candidate sentence with its citation fields and the ranker's scores."""

    doc_key: str
    idx: int
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    text: str
    score: float = Field(description="Fused relevance score (higher is better).")
    probability: float = Field(
        description="The ranker's probability that this sentence is the evidence, among all candidates."
    )
    dense: float = Field(description="Cosine similarity of question and sentence.")
    lexical: float = Field(description="BM25 score of the sentence.")
    coverage_window: float = Field(
        description="IDF-weighted share of the question's terms found in the sentence and its neighbours."
    )
    reader: float = Field(
        default=0.0, description="The reader model's judgement (its logit / 5, clipped); 0 without a reader."
    )
    kind: UnitKind = "sentence"
    section: list[str] = Field(default_factory=list, description="Headings above the unit, outermost first.")
    context: str | None = Field(default=None, description="A list's lead-in or a table's header row.")
    page: int | None = None
    block: int = Field(default=0, description="The paragraph, list, table or code block holding the unit.")
    url: str | None = Field(default=None, description="The unit's own link (a Discord message's), if any.")
    doc_url: str | None = Field(
        default=None, description="Its document's address (a web page's), if any; links.citation_url."
    )
    language: str | None = Field(
        default=None, description="Its document's language as detected at ingest (ISO 639-1); None: unknown."
    )
