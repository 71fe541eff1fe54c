"""The citing chain, built from LangChain runnables, and a LangChain retriever over the same index.

``build_chain(settings)`` gives a ``Runnable`` whose ``invoke("question")`` returns an ``Answer``:
validate the question, rank the evidence, compose the answer. Each step is a runnable, so the chain
batches, streams events and traces like any other LangChain chain.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, PrivateAttr

from .answer.extractive import extractive_answer
from .answer.policy import AnswerPolicy
from .errors import CitebotError, ConfigurationError, InvalidQuestionError, NoDocumentsError
from .index.core import Index, open_index
from .models import Answer, Query
from .rank.ranker import Ranker, Retrieved
from .settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessageChunk

log = logging.getLogger(__name__)

_WORDISH = re.compile(r"\w", re.UNICODE)


def clean_question(text: str, max_chars: int) -> str:
    """Normalise a question and reject what can't be searched.

    Raises:
        InvalidQuestionError: empty, only punctuation, or longer than ``max_chars``.
    """
    if not isinstance(text, str):
        raise InvalidQuestionError("the question must be text")
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    text = " ".join(text.split())
    if not text:
        raise InvalidQuestionError("the question is empty: ask something about the documents")
    if len(text) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,}. Ask it more briefly."
        )
    if not _WORDISH.search(text):
        raise InvalidQuestionError("the question has no words to search for")
    return text


def to_query(value: str | dict[str, Any] | Query, max_chars: int) -> Query:
    """Accept a question string, a dict (``question``, ``scopes``, ``documents``, ``history``), or a Query."""
    if isinstance(value, Query):
        q = value
    elif isinstance(value, dict):
        q = Query(**value)
    else:
        q = Query(question=value)
    return q.model_copy(update={"question": clean_question(q.question, max_chars)})


def build_chain(
    settings: Settings | None = None, *, index: Index | None = None, model: BaseChatModel | None = None
) -> Runnable[Any, Answer]:
    """Build the question-to-``Answer`` chain over the index that ``settings`` point at.

    Args:
        settings: citebot's settings; read from the environment when None.
        index: the index to answer from; by default the one ``settings`` point at.
        model: the chat model that writes answers, instead of the one ``settings.llm`` names (which
            must then not be ``none``): for programs that build their own LangChain model.
    """
    settings = settings or Settings()
    index = index or open_index(settings)
    ranker = Ranker(index, candidates=settings.candidates, reader=settings.reader)

    def prepare(value: str | dict[str, Any] | Query) -> Query:
        return to_query(value, settings.max_question_chars)

    def retrieve(query: Query) -> Retrieved:
        if index.is_empty():
            raise NoDocumentsError("no documents are indexed yet: run `citebot ingest PATH` first")
        return ranker.rank(query)

    compose: Callable[[Retrieved], Answer]
    policy = AnswerPolicy.from_settings(settings)  # a bad weights file fails here, not at the first question
    if settings.llm == "none" and model is None:

        def compose(retrieved: Retrieved) -> Answer:
            return extractive_answer(retrieved, policy)

    else:  # a language model writes the answer; citations are still checked against the evidence
        from .answer.generative import generative_answerer

        compose = generative_answerer(settings, model, policy=policy)

    return (
        RunnableLambda(prepare, name="prepare")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(compose, name="compose")
    ).with_config(run_name="citebot")


async def astream_answer(chain: Runnable[Any, Answer], value: Any) -> AsyncGenerator[str | Answer, None]:
    """Run ``chain`` on ``value``, yielding the language model's draft as it is written, then the Answer.

    Each ``str`` is the whole draft so far, as :func:`~retrieval.answer.generative.draft_text` reads it
    (a new one only when it changed); the last item is the checked ``Answer``, which may differ from the
    draft (claims whose citations fail the check are gone) or be a refusal. Without a language model, or
    when the chain refuses before asking one, the Answer is the only item. The drafts come from the chat
    model's token stream through LangChain's event stream, so any chain holding a chat model streams,
    including one wrapped in other runnables.

    Raises:
        CitebotError: as ``chain.invoke`` does (and ``CitebotError`` if the chain returned no Answer).
    """
    from .answer.generative import draft_text

    written: AIMessageChunk | None = None
    shown = ""
    answer: Answer | None = None
    async for event in chain.astream_events(value, version="v2"):
        kind = event["event"]
        if kind == "on_chat_model_start":
            written = None  # a new call: its draft replaces the last one
        elif kind == "on_chat_model_stream":
            chunk = event["data"].get("chunk")
            if chunk is None:
                continue
            written = chunk if written is None else written + chunk
            text = draft_text(written)
            if text != shown:
                shown = text
                yield text
        elif kind == "on_chain_end" and not event["parent_ids"]:
            output = event["data"].get("output")
            if isinstance(output, Answer):
                answer = output
    if answer is None:
        raise CitebotError("the chain finished without an answer")
    yield answer


# Keyword arguments BaseRetriever.invoke passes on that are not a retriever's to act on.
_INVOKE_PASSTHROUGH = frozenset({"verbose"})


class CitingRetriever(BaseRetriever):
    """A LangChain retriever returning sentence-level ``Document``s with citation metadata.

    ``metadata`` holds ``doc_id``, ``source``, ``title``, ``start``, ``end`` and ``score``;
    ``page_content`` is exactly the document's text from ``start`` to ``end``. ``k`` and ``scopes``
    are defaults: given to ``invoke`` (``retriever.invoke(q, k=1, scopes=["shared"])``) they win for
    that call, the convention LangChain's standard retriever tests check.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    k: int = Field(default=5, ge=1)
    scopes: list[str] | None = None
    max_question_chars: int = 2000
    _ranker: Ranker | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> CitingRetriever:
        """Open the index that ``settings`` point at and wrap it."""
        settings = settings or Settings()
        return cls(index=open_index(settings), max_question_chars=settings.max_question_chars, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        scopes: list[str] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        limit = self._limit(k, kwargs)
        q = to_query(
            {"question": query, "scopes": self.scopes if scopes is None else scopes}, self.max_question_chars
        )
        if self._ranker is None:  # one ranker per retriever: it caches tokens between queries
            self._ranker = Ranker(self.index, candidates=self.index.settings.candidates)
        retrieved = self._ranker.rank(q, limit=limit)
        return [
            Document(
                page_content=e.text,
                metadata={
                    "doc_id": e.doc_id,
                    "source": e.source,
                    "title": e.title,
                    "start": e.start,
                    "end": e.end,
                    "score": e.score,
                },
            )
            for e in retrieved.evidence
        ]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        scopes: list[str] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        # BaseRetriever's default runs the sync method in a thread but drops every keyword argument.
        return await run_in_executor(
            None,
            partial(
                self._get_relevant_documents, run_manager=run_manager.get_sync(), k=k, scopes=scopes, **kwargs
            ),
            query,
        )

    def _limit(self, k: int | None, extra: dict[str, Any]) -> int:
        """The number of sentences for this call: ``k`` from ``invoke`` if given, else the field.

        Raises:
            ConfigurationError: ``k`` is not a positive whole number, or an unknown argument was given
                (a misspelt ``k`` would otherwise be ignored without a word).
        """
        unknown = sorted(set(extra) - _INVOKE_PASSTHROUGH)
        if unknown:
            raise ConfigurationError(f"CitingRetriever.invoke() takes k and scopes, not {', '.join(unknown)}")
        if k is None:
            return self.k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigurationError(f"k must be a whole number of 1 or more, not {k!r}")
        return k
