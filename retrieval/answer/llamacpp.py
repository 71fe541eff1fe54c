"""A thin LangChain chat model over an in-process llama.cpp model (``llama-cpp-python`` and a GGUF file).

citebot needs only chat completion, token streaming and schema-constrained JSON, which llama-cpp-python
offers directly; a few dozen lines here spare the whole of langchain-community for them. The model file
is loaded on the first call, not when the chat model is built, and one lock serialises calls because a
``llama_cpp.Llama`` is not safe to use from two threads at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ..errors import ConfigurationError

log = logging.getLogger(__name__)

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def _to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


class LlamaCppChat(BaseChatModel):
    """Chat with a local GGUF model through llama-cpp-python, in this process.

    Extra keyword arguments given to ``invoke``/``stream`` (or through ``bind``), such as
    ``response_format={"type": "json_object", "schema": ...}``, go to ``create_chat_completion``.
    """

    model_path: Path
    temperature: float = 0.0
    max_tokens: int = 256
    n_ctx: int = 4096
    n_threads: int | None = None
    seed: int = 0

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "citebot-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self.model_path), "temperature": self.temperature, "n_ctx": self.n_ctx}

    def _load(self) -> Any:
        """Load the GGUF file once (a few hundred milliseconds for a small model)."""
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ConfigurationError(
                    "the in-process model needs llama-cpp-python: pip install 'citebot[llm]' "
                    "(or pip install llama-cpp-python)"
                ) from exc
            if not self.model_path.is_file():
                raise ConfigurationError(
                    f"the GGUF model {self.model_path} does not exist: set CITEBOT_LLM_GGUF to a .gguf file"
                )
            log.info("loading %s", self.model_path)
            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        if stop:
            params["stop"] = stop
        params.update(kwargs)
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            llama = self._load()
            out = llama.create_chat_completion(
                messages=_to_llama_messages(messages), **self._params(stop, kwargs)
            )
        choice = out["choices"][0]
        message = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={"finish_reason": choice.get("finish_reason")},
            usage_metadata=_usage(out.get("usage")),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._lock:
            llama = self._load()
            for part in llama.create_chat_completion(
                messages=_to_llama_messages(messages), stream=True, **self._params(stop, kwargs)
            ):
                token = part["choices"][0]["delta"].get("content") or ""
                if not token:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
                if run_manager:
                    run_manager.on_llm_new_token(token, chunk=chunk)
                yield chunk


def _usage(usage: dict[str, int] | None) -> Any:
    if not usage:
        return None
    return {
        "input_tokens": usage.get("prompt_tokens", 0),
        "output_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }
