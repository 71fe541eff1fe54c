"""The reader: a small cross-encoder that scores (question, unit) pairs, run on ONNX Runtime.

Why: hand-written relevance signals stop improving; a model that reads the question and the unit
together learns what "this unit answers that question" looks like. It is trained by
:mod:`retrieval.tools.train_reader` (torch) and exported by :mod:`retrieval.tools.export_reader`; here it
only runs, on ONNX Runtime with the ``tokenizers`` library, so answering never imports torch.

:func:`pair_text` is the one place a unit is rendered for the model. Training, the export's checks and
answering all go through it (and through :func:`encode_pairs`), so the model sees at answer time exactly
what it saw in training. A change to either bumps :data:`PAIR_TEXT_VERSION`, which a model folder
records: a model trained on another rendering is refused rather than silently misread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from .cues import Question

log = logging.getLogger(__name__)

#: Bumped whenever :func:`pair_text` or :func:`encode_pairs` renders a pair differently.
PAIR_TEXT_VERSION = 1
#: The files of a model folder.
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
#: The model shipped inside the package, once one is kept.
BUNDLED_DIR = "reader_model"

# Character budgets of the parts around the unit. The unit's own text comes last and takes whatever
# the token limit leaves: the headings and lead-in are context, the unit is what is judged.
_SECTION_CHARS = 80
_CONTEXT_CHARS = 160
# A unit longer than this is cut before tokenizing: at ~4 characters a token nothing past it survives
# a 256-token limit anyway, and tokenizing a 50 kB code block costs time for nothing.
_TEXT_CHARS = 1200
_KIND_TAGS = {"list_item": "item", "table_row": "row", "code": "code", "step": "step"}


class ReadableUnit(Protocol):
    """What the reader needs of a candidate unit (``retrieval.models.Evidence`` has all of it)."""

    @property
    def text(self) -> str: ...  # noqa: D102

    @property
    def section(self) -> Sequence[str]: ...  # noqa: D102

    @property
    def context(self) -> str | None: ...  # noqa: D102

    @property
    def kind(self) -> str: ...  # noqa: D102


def _clip(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` with runs of whitespace collapsed, cut to ``limit`` characters at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if keep_end:
        cut = text[-limit:]
        return "…" + cut[cut.find(" ") + 1 :] if " " in cut else "…" + cut
    cut = text[:limit]
    return (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"


def pair_text(
    question: str, text: str, section: Sequence[str] = (), context: str | None = None, kind: str = "sentence"
) -> tuple[str, str]:
    """The (first, second) segments the model reads for a question and one unit.

    The second segment is ``"H1 > H2 | lead-in | [kind] unit text"``: the heading path says what the
    document part is about (innermost headings kept when long), the lead-in or header row says what a
    list item or table row means, and a short tag says a unit is not prose. The heading path and lead-in
    are cut to fixed character budgets so the unit itself always gets most of the token limit.
    """
    parts = []
    path = " > ".join(h.strip() for h in section if h and h.strip())
    if path:
        parts.append(_clip(path, _SECTION_CHARS, keep_end=True))
    if context and context.strip():
        parts.append(_clip(context, _CONTEXT_CHARS))
    body = _clip(text, _TEXT_CHARS)
    tag = _KIND_TAGS.get(kind)
    parts.append(f"[{tag}] {body}" if tag else body)
    return " ".join(question.split()), " | ".join(parts)


def unit_pair(question: str, unit: ReadableUnit) -> tuple[str, str]:
    """:func:`pair_text` of an object with the unit's fields."""
    return pair_text(question, unit.text, unit.section, unit.context, unit.kind)


def encode_pairs(tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]]) -> list[Any]:
    """Tokenize ``pairs`` with the model's tokenizer (its truncation already set): one encoding each."""
    return tokenizer.encode_batch(list(pairs)) if pairs else []


def batch_arrays(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """The graph's int64 inputs for ``encodings``, right-padded to the longest of them."""
    length = max((len(e.ids) for e in encodings), default=0)
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros((len(encodings), length), dtype=np.int64)
    types = np.zeros((len(encodings), length), dtype=np.int64)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = 1
        types[row, :n] = enc.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def load_tokenizer(path: Path, max_length: int) -> Tokenizer:
    """The tokenizer of a model folder, truncating pairs to ``max_length`` tokens and never padding."""
    # Tokenizing is a small share of the time; its thread pool would compete with ONNX Runtime's.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    # Longest-first: a long unit loses its tail before a short question loses anything.
    tok.enable_truncation(max_length, strategy="longest_first")
    tok.no_padding()
    return tok


def length_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, each at most ``batch_tokens`` padded tokens.

    Sorting by length keeps padding (wasted work) small; small batches keep activations in the CPU's
    cache, as :class:`retrieval.embed.onnx_encoder.OnnxEncoder` found for the sentence encoder.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * lengths[order[end]] <= batch_tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


class Reader:
    """A cross-encoder model folder on ONNX Runtime: logits for (question, unit) pairs.

    The folder holds ``model.onnx``, ``tokenizer.json`` and ``config.json`` (``max_length``,
    ``pair_text_version``). The session is opened on first use, once, under a lock; ONNX Runtime's
    ``run`` is thread-safe, so threads share one Reader.
    """

    def __init__(self, path: Path, *, threads: int = 0, batch_tokens: int = 2048) -> None:
        self.path = path
        self.config: dict[str, Any] = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        version = self.config.get("pair_text_version")
        if version != PAIR_TEXT_VERSION:
            raise ValueError(
                f"the reader in {path} was trained on pair_text version {version}, this citebot renders "
                f"version {PAIR_TEXT_VERSION}: retrain or re-export it"
            )
        self.max_length = int(self.config.get("max_length", 128))
        # The languages of its training pairs; a folder that doesn't say was exported before readers
        # said, from citebot's reader corpus, which is English.
        self.languages = frozenset(self.config.get("languages") or ("en",))
        self.threads = threads
        self.batch_tokens = max(batch_tokens, self.max_length)
        self._tok = load_tokenizer(path / TOKENIZER_FILE, self.max_length)
        self._graph = path / MODEL_FILE
        if not self._graph.is_file():
            raise FileNotFoundError(self._graph)
        self._session: Any = None
        self._lock = threading.Lock()

    def session(self) -> Any:
        """The ONNX Runtime session, opened once per Reader even when threads race for it."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    from ..embed.onnx_encoder import open_session

                    self._session = open_session(str(self._graph), self.threads)
        return self._session

    def reads(self, question: Question, language: str | None) -> bool:
        """Whether it may judge ``question`` against a unit of a document in ``language`` (None: unknown).

        Both must be in a language it was trained on: the document's (an unknown one counts as the
        question's) and the question's, as far as the question can be told (``Question.may_be_in``).
        """
        language = language or question.language
        return language in self.languages and question.may_be_in(language)

    def score(self, question: str, units: Sequence[ReadableUnit]) -> np.ndarray:
        """The model's logit for each unit answering ``question`` (higher: more likely), float32."""
        return self.score_pairs([unit_pair(question, u) for u in units])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Logits for pairs already rendered by :func:`pair_text`, batched by length."""
        out = np.zeros(len(pairs), dtype=np.float32)
        if not pairs:
            return out
        encs = encode_pairs(self._tok, pairs)
        session = self.session()
        for idx in length_batches([len(e.ids) for e in encs], self.batch_tokens):
            logits = session.run(None, batch_arrays([encs[i] for i in idx]))[0]
            out[idx] = np.asarray(logits, dtype=np.float32).reshape(len(idx))
        return out


_READERS: dict[tuple[Path, int], Reader] = {}
_READERS_LOCK = threading.Lock()


def bundled_path() -> Path:
    """Where the package keeps its reader model (the folder may be absent)."""
    return Path(str(files(__package__ or "retrieval.rank") / BUNDLED_DIR))


def load_reader(setting: str, *, threads: int = 0) -> Reader | None:
    """The reader ``setting`` names, loaded once per process; None for ``"none"`` or no bundled model.

    ``setting`` is ``"bundled"`` (the model inside the package), ``"none"``, or a model folder's path.
    A folder that is missing or unreadable raises: a reader asked for by path should not vanish quietly.
    """
    if setting.strip().lower() == "none":
        return None
    if setting.strip().lower() == "bundled":
        path = bundled_path()
        if not (path / MODEL_FILE).is_file():
            log.info("reader: no model is bundled at %s; ranking without it", path)
            return None
    else:
        path = Path(setting).expanduser()
    key = (path.resolve(), threads)
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = Reader(key[0], threads=threads)
        return reader
