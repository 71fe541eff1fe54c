"""Answers written by a language model from the retrieved evidence, with every citation checked.

The model sees the top evidence units, numbered and quoted as data, and cites them by number; when the
answer policy shaped the answer like its evidence (a whole list, a series of steps), those units come
first, so the model sees the whole block and not only the best-ranked unit. Each unit that is more than
a prose sentence carries its kind, its section path and its context (a list's lead-in, a table's header
row), because a bare table row or list item means little without them. Its
output is parsed (schema-constrained JSON where the provider offers it, tolerant parsing otherwise) and
checked by ``citecheck``: what survives cites real, verbatim sentences. When retrieval is weak the model
is not asked at all (a refusal); when the model says the documents don't answer, that is a refusal too;
when nothing it wrote survives the check, or it fails, the answer is the extractive one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.utils.json import parse_partial_json

from ..errors import CitebotError
from ..models import Answer, Evidence
from ..rank.ranker import Retrieved
from ..settings import Settings
from .citecheck import check_draft
from .drafts import DRAFT_SCHEMA, Draft, parse_draft, sounds_like_refusal, strip_markers
from .extractive import quote, refusal
from .llms import build_chat_model, model_error
from .policy import AnswerPolicy, Decision
from .prompts import chat_prompt

log = logging.getLogger(__name__)

_TOOL_NAME = "cited_answer"
_TAG = re.compile(r"</?\s*sentences\s*>", re.IGNORECASE)


def format_sentences(evidence: Sequence[Evidence]) -> str:
    """Number the units [1], [2], ... and quote each as a JSON string, one per line.

    Quoting keeps a document's text inside its own line as data: quotes and newlines in it are
    escaped, and the tags that close the block are removed, so no unit can pose as the prompt. A unit
    that is not a plain sentence is followed by its kind, section path and context, each quoted too.
    """
    return "\n".join(f"[{i}] {_quoted(e.text)}{_about(e)}" for i, e in enumerate(evidence, start=1))


def _quoted(text: str) -> str:
    return json.dumps(_TAG.sub(" ", text), ensure_ascii=False)


def _about(e: Evidence) -> str:
    """`` (kind: …; section: "…"; context: "…")`` for a structured unit; empty for a prose sentence."""
    if e.kind == "sentence" and not e.section and not e.context:
        return ""
    parts = [f"kind: {e.kind}"]
    if e.section:
        parts.append(f"section: {_quoted(' > '.join(e.section))}")
    if e.context:
        parts.append(f"context: {_quoted(e.context)}")
    return f" ({'; '.join(parts)})"


_FENCE = re.compile(r"^\s*```(?:json)?\s*", re.IGNORECASE)
_OPEN_MARKER = re.compile(r"\s*\[[\d\s,;]*$")  # a marker still being written: "... board [1"


def draft_text(message: AIMessageChunk) -> str:
    """What the model has written so far, as a person would read it: sentences, without ``[n]`` markers.

    The message is every chunk streamed so far added together. A forced tool call streams its arguments
    and a schema-constrained model streams JSON, both unfinished until the end; LangChain's partial-JSON
    parser reads them anyway, and the sentences' ``text`` fields are the draft. Prose is shown as written.
    This is only a preview: what is final is the checked answer.
    """
    raw = str(message.tool_call_chunks[0].get("args") or "") if message.tool_call_chunks else message.text
    body = _FENCE.sub("", raw)
    if body.lstrip().startswith(("{", "[")):
        parsed = parse_partial_json(body.strip())
        items = parsed.get("sentences") if isinstance(parsed, dict) else parsed
        texts = (
            [i.get("text") if isinstance(i, dict) else i for i in items] if isinstance(items, list) else []
        )
        raw = " ".join(t for t in texts if isinstance(t, str))
    raw = _OPEN_MARKER.sub("", raw)
    return "\n".join(strip_markers(line) for line in raw.splitlines() if line.strip())


def shown_units(decision: Decision, evidence: Sequence[Evidence], limit: int) -> list[Evidence]:
    """What the model sees: the policy's chosen units (a shaped block whole), then the best others.

    At least ``limit`` units when there are that many; a shaped block is never cut. A unit nested in one
    already shown (a sentence of a shown list item) is left out, so nothing is numbered twice.
    """
    shown = list(decision.cited)
    for e in evidence:
        if len(shown) >= max(limit, len(decision.cited)):
            break
        if not any(_overlaps(e, s) for s in shown):
            shown.append(e)
    return shown


def _overlaps(a: Evidence, b: Evidence) -> bool:
    return a.doc_key == b.doc_key and a.start < b.end and b.start < a.end


def output_mode(settings: Settings) -> str:
    """'json' or 'text': 'auto' takes schema-constrained JSON from every provider citebot builds."""
    if settings.llm_output != "auto":
        return settings.llm_output
    return "json" if settings.llm in ("openai", "ollama", "llamacpp") else "text"


class GenerativeAnswerer:
    """``Retrieved`` to ``Answer`` with a chat model; ``stats`` counts how answers came about.

    Args:
        settings: citebot's settings (``llm_*`` fields).
        model: the chat model; default: the one ``settings`` name (built now, loaded on first use).
        prompts_dir: where the prompt files are; default: the repository's ``prompts/``.
        policy: decides refusals and the fallback's citations; default: ``settings``' policy.
    """

    def __init__(
        self,
        settings: Settings,
        model: BaseChatModel | None = None,
        prompts_dir: Path | None = None,
        policy: AnswerPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy or AnswerPolicy.from_settings(settings)
        self.model = model if model is not None else build_chat_model(settings)
        self.mode = output_mode(settings)
        self.prompt = chat_prompt("system", "answer_json" if self.mode == "json" else "answer", prompts_dir)
        self.stats: Counter[str] = Counter()

    def __call__(self, retrieved: Retrieved) -> Answer:
        """Answer from ``retrieved``; see the module docstring for when it refuses or falls back."""
        question = retrieved.query.question
        self.stats["questions"] += 1
        decision = self.policy.decide(retrieved)
        if decision.refused:
            self.stats["refused_retrieval"] += 1
            return refusal(question)
        shown = shown_units(decision, retrieved.evidence, self.settings.llm_sentences)
        messages = self.prompt.format_messages(sentences=format_sentences(shown), question=question)
        t0 = time.perf_counter()
        try:
            draft = self._draft(messages)
        except CitebotError:
            raise
        except Exception as exc:
            error = model_error(exc, self.settings)
            if error is not None:
                raise error from exc
            log.warning("the language model failed (%s: %s); answering with quotes", type(exc).__name__, exc)
            self.stats["model_error"] += 1
            return self._fallback(question, decision, "model error")
        finally:
            log.debug("model answered in %.0f ms", (time.perf_counter() - t0) * 1000)
        if not draft.answerable and not draft.sentences:
            self.stats["refused_model"] += 1
            log.info("the model says the documents don't answer: %s", question)
            return refusal(question)
        report = check_draft(draft, shown, question, min_support=self.settings.llm_min_support)
        if report.dropped_citations:
            self.stats["dropped_citations"] += len(report.dropped_citations)
            log.info("dropped citations of unknown sentences %s", report.dropped_citations)
        if report.dropped_sentences:
            self.stats["dropped_sentences"] += len(report.dropped_sentences)
            log.info("dropped %d answer sentence(s) without valid support", len(report.dropped_sentences))
        if report.answer is None:
            if not draft.answerable or any(sounds_like_refusal(s) for s in report.dropped_sentences):
                self.stats["refused_model"] += 1
                log.info("the model says the documents don't answer: %s", question)
                return refusal(question)
            return self._fallback(
                question, decision, "no sentence of the model's answer had a supported citation"
            )
        self.stats["generated"] += 1
        return report.answer

    def _fallback(self, question: str, decision: Decision, reason: str) -> Answer:
        """Quote the sentences the policy chose (the answer the chain gives without a model)."""
        self.stats["fallback"] += 1
        log.info("fallback to the extractive answer: %s", reason)
        return quote(question, decision.cited)

    def _draft(self, messages: list[BaseMessage]) -> Draft:
        """Ask the model and parse what it wrote."""
        if self.mode == "text":  # streamed, so callbacks (a terminal, a chat reply) see tokens as they come
            content = "".join(chunk.text for chunk in self.model.stream(messages))
            log.debug("model output: %s", content)
            return parse_draft(content)
        message = self._structured().invoke(messages)
        if isinstance(message, AIMessage) and message.tool_calls:
            log.debug("model tool call: %s", message.tool_calls[0]["args"])
            return parse_draft(message.tool_calls[0]["args"])
        content = message.text if isinstance(message, BaseMessage) else str(message)
        log.debug("model output: %s", content)
        return parse_draft(content)

    def _structured(self) -> Any:
        """The model bound to ``DRAFT_SCHEMA`` the way its provider constrains output."""
        if self.settings.llm == "openai":  # a forced tool call: hosted APIs, vLLM and llama.cpp's server
            tool = {
                "type": "function",
                "function": {
                    "name": _TOOL_NAME,
                    "parameters": DRAFT_SCHEMA,
                    "description": "The cited answer to the question.",
                },
            }
            return self.model.bind_tools([tool], tool_choice=_TOOL_NAME)
        if self.settings.llm == "ollama":
            return self.model.bind(format=DRAFT_SCHEMA)
        if self.settings.llm == "llamacpp":
            return self.model.bind(response_format={"type": "json_object", "schema": DRAFT_SCHEMA})
        return self.model  # unknown provider: the prompt asks for JSON and parsing is tolerant


def generative_answerer(
    settings: Settings, model: BaseChatModel | None = None, *, policy: AnswerPolicy | None = None
) -> Callable[[Retrieved], Answer]:
    """The ``compose`` step of ``build_chain`` when ``settings.llm`` names a model."""
    return GenerativeAnswerer(settings, model, policy=policy)
