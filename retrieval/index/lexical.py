"""The lexical index: BM25 over every indexed sentence (bm25s), saved beside the catalog.

It scores the whole corpus in one vectorised pass, so the ranker can look at any sentence's score and
its neighbours' (window evidence) without a second query.

One writer, many readers. The writer (an ingest or a forget, holding the index's ingest lock) builds a
generation into a fresh folder and publishes it by replacing the pointer file ``current.json``
atomically. Readers (every thread and process answering questions) only ever load the generation the
pointer names, fully into memory; they never build and never delete. The writer keeps the previous
generations' folders, so a reader that read the pointer just before a publish still finds its folder;
if one vanished anyway (a reader stalled through several publishes), the reader reads the pointer again.
A stale generation is harmless: BM25 only proposes candidates, whose text always comes from the
catalog, and the catalog never gives a deleted sentence's rowid to another sentence.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_write, fsync_path

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)

#: The language of text whose language is not known (documents indexed before detection).
DEFAULT_LANGUAGE = "en"

_POINTER = "current.json"
_FORMAT = 2  # pointers without it (or older) were written by builders that readers must not trust
_PREFIX = "bm25-"
_KEEP_PREVIOUS = 2  # published generations kept besides the current one, for readers still loading them
_LOAD_ATTEMPTS = 5


@lru_cache(maxsize=1)
def _quiet_bm25s() -> None:
    """bm25s sets its logger to DEBUG on import; give the level back to the application's config.

    Once: setting a level clears every logger's cache, a cost on each question otherwise.
    """
    logging.getLogger("bm25s").setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


#: Snowball stemmers (PyStemmer) by ISO 639-1 code.
_STEMMERS = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "es": "spanish",
    "eu": "basque",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}
#: bm25s's stop-word lists by ISO 639-1 code (English's is applied only to English).
_STOPWORDS = {
    "da": "STOPWORDS_DANISH",
    "de": "STOPWORDS_GERMAN",
    "es": "STOPWORDS_SPANISH",
    "fr": "STOPWORDS_FRENCH",
    "it": "STOPWORDS_ITALIAN",
    "nl": "STOPWORDS_DUTCH",
    "no": "STOPWORDS_NORWEGIAN",
    "pt": "STOPWORDS_PORTUGUESE",
    "ru": "STOPWORDS_RUSSIAN",
    "sv": "STOPWORDS_SWEDISH",
    "tr": "STOPWORDS_TURKISH",
}
#: Languages in the Latin script with an analyser here: their tokens carry English stems as well.
_LATIN_SCRIPT = frozenset(
    {"ca", "cs", "da", "de", "es", "eu", "fi", "fr", "ga", "hu", "id", "it", "lt", "nl", "no", "pl", "pt"}
    | {"ro", "sv", "tr"}
)
#: Languages written without spaces between words: cut into overlapping pairs of characters.
_PAIRED = frozenset({"zh", "ja"})
# A word: letters and digits with the combining marks that \w leaves out (Devanagari vowel signs and
# virama, Arabic harakat, Latin accents typed as marks), so that "हिन्दी" stays one word.
_WORD = re.compile(
    r"(?:[^\W_]|[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    r"\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963])+"
)
_HAN_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


@lru_cache(maxsize=16)
def _stemmer_for(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(_STEMMERS[language])


@lru_cache(maxsize=16)
def _stopwords_for(language: str) -> frozenset[str]:
    import bm25s.stopwords

    from .language import QUESTION_WORDS

    name = _STOPWORDS.get(language)
    listed = frozenset(getattr(bm25s.stopwords, name)) if name else frozenset()
    return listed | QUESTION_WORDS.get(language, frozenset())


def _english(texts: list[str]) -> list[list[str]]:
    """Lower-case, drop English stop words, and stem: exactly the tokens before languages were known."""
    import bm25s

    _quiet_bm25s()
    out = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)
    return [list(t) for t in out]


def _pairs(text: str) -> list[str]:
    """Han and kana runs as overlapping character pairs (a lone character as itself); other words whole.

    Pairs find Chinese words without a dictionary: a two-character word is one pair, a longer one
    several, and a question's pairs meet the document's wherever they share words.
    """
    out: list[str] = []
    pos = 0
    for m in _HAN_RUN.finditer(text):
        out += [w.lower() for w in _WORD.findall(text, pos, m.start())]
        run = m.group()
        out += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        pos = m.end()
    out += [w.lower() for w in _WORD.findall(text, pos)]
    return out


def _analyse(texts: list[str], language: str) -> list[list[str]]:
    """Tokens of ``texts`` in ``language``: its stop words out, its stemmer, or pairs for Chinese."""
    if language == DEFAULT_LANGUAGE:
        return _english(texts)
    if language in _PAIRED:
        return [_pairs(t) for t in texts]
    stop = _stopwords_for(language)
    stemmer = _stemmer_for(language) if language in _STEMMERS else None
    latin = language in _LATIN_SCRIPT
    out = []
    for text in texts:
        words = [w for w in (m.lower() for m in _WORD.findall(text)) if w not in stop]
        stems = list(stemmer.stemWords(words)) if stemmer is not None else words
        out.append(_with_english_stems(words, stems) if latin else stems)
    return out


def _with_english_stems(words: list[str], stems: list[str]) -> list[str]:
    """Each word's stem in its language, followed by its English stem where that differs.

    Names and borrowed words are written alike across Latin-script languages, but a short text (a name
    the question mentions, a question too short to tell) is tokenised as English: "Panthers" must meet
    the "panth" of a German sentence as "panther". English stop words add nothing.
    """
    english = _stemmer().stemWords(words)
    out = []
    for word, own, en in zip(words, stems, english, strict=True):
        out.append(own)
        if en != own and len(word) > 1 and word not in _english_stopwords():
            out.append(en)
    return out


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    import bm25s.stopwords

    return frozenset(bm25s.stopwords.STOPWORDS_EN)


def tokenize(texts: list[str], language: str | None = None) -> list[list[str]]:
    """BM25 tokens of ``texts``, the same for sentences and questions.

    Args:
        texts: what to tokenise.
        language: the language of every text (a document's, from the catalog); None: each text's own,
            guessed from its script and wording (questions; see ``index.language.guess_short``).
            English, and any text not surely in another language, is lower-cased, stripped of English
            stop words and stemmed, exactly as before languages were detected.
    """
    if language is not None:
        return _analyse(texts, language)
    from .language import guess_short

    languages = [guess_short(t) for t in texts]
    if all(lang == DEFAULT_LANGUAGE for lang in languages):
        return _english(texts)
    out: list[list[str]] = [[] for _ in texts]
    for lang in set(languages):
        where = [i for i, got in enumerate(languages) if got == lang]
        for i, tokens in zip(where, _analyse([texts[i] for i in where], lang), strict=True):
            out[i] = tokens
    return out


@dataclass(frozen=True, slots=True)
class LexicalScores:
    """BM25 scores of every sentence (aligned with ``rowids``) for one question."""

    rowids: np.ndarray
    scores: np.ndarray
    query_terms: int


@dataclass(frozen=True, slots=True)
class _Pointer:
    """What ``current.json`` says: the published generation and the folders still kept."""

    generation: int
    folder: str
    catalog_id: str | None
    kept: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One generation read into memory; ``retriever`` is None when it holds no sentence."""

    folder: str
    retriever: bm25s.BM25 | None
    rowids: np.ndarray
    scopes: np.ndarray
    scope_names: list[str]


class LexicalIndex:
    """BM25 over the catalog's sentences, identified by catalog rowid.

    Args:
        directory: the folder holding the generations and the pointer.
        catalog_id: returns the identity of the catalog beside it (None when it has none yet); a
            generation built from another catalog is ignored. Without it, every generation is trusted.
    """

    def __init__(self, directory: Path, catalog_id: Callable[[], str | None] | None = None) -> None:
        self.directory = directory
        self._catalog_id = catalog_id
        self._load_lock = threading.Lock()
        self._loaded: _Loaded | None = None

    # pointer ------------------------------------------------------------------------------------
    def _pointer(self) -> _Pointer | None:
        """The published pointer, or None when there is none this code can trust."""
        try:
            info = json.loads((self.directory / _POINTER).read_text(encoding="utf-8"))
            if int(info.get("format", 0)) != _FORMAT:
                return None
            return _Pointer(
                generation=int(info["generation"]),
                folder=str(info["dir"]),
                catalog_id=info.get("catalog_id"),
                kept=tuple(str(k) for k in info.get("kept", [])),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _usable(self, pointer: _Pointer | None) -> _Pointer | None:
        if pointer is None or self._catalog_id is None:
            return pointer
        return pointer if pointer.catalog_id == self._catalog_id() else None

    def generation(self) -> int:
        """The catalog generation the published index was built from (-1 when none is published)."""
        pointer = self._usable(self._pointer())
        return pointer.generation if pointer is not None else -1

    # writer ------------------------------------------------------------------------------------
    def publish(
        self,
        rows: Sequence[tuple[int, str, str]],
        generation: int,
        catalog_id: str | None,
        languages: Sequence[str | None] | None = None,
    ) -> None:
        """Index ``(rowid, scope, text)`` rows (in rowid order) and make them the published generation.

        ``languages`` gives each row's document language (None, or no list: English), which decides
        how its text is tokenised.

        Only a writer holding the index's ingest lock may call this: it also deletes the folders of
        generations that are no longer kept, and of builds a crash left unpublished.
        """
        import bm25s

        self.directory.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{generation}-", dir=self.directory))
        try:
            # mkdtemp makes it private; readers running as another user need what the index folder allows.
            folder.chmod(self.directory.stat().st_mode & 0o777)
            scope_names = sorted({r[1] for r in rows})
            scope_ids = {s: i for i, s in enumerate(scope_names)}
            np.save(folder / "rowids.npy", np.asarray([r[0] for r in rows], dtype=np.int64))
            np.save(folder / "scopes.npy", np.asarray([scope_ids[r[1]] for r in rows], dtype=np.int32))
            (folder / "scopes.json").write_text(json.dumps(scope_names), encoding="utf-8")
            if rows:
                _quiet_bm25s()
                retriever = bm25s.BM25()
                retriever.index(_tokenize_rows(rows, languages), show_progress=False)
                retriever.save(str(folder / "bm25"), show_progress=False)
            _fsync_tree(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        previous = self._pointer()
        kept = [] if previous is None else [previous.folder, *previous.kept]
        kept = [k for k in kept if k != folder.name][:_KEEP_PREVIOUS]
        # Not atomic_write's default: readers running as another user need what the index folder allows.
        atomic_write(
            self.directory / _POINTER,
            json.dumps(
                {
                    "format": _FORMAT,
                    "generation": generation,
                    "dir": folder.name,
                    "catalog_id": catalog_id,
                    "sentences": len(rows),
                    "kept": kept,
                }
            ),
            mode=self.directory.stat().st_mode & 0o666,
        )
        self._prune({folder.name, *kept})
        log.debug("lexical index: published %d sentences, generation %d", len(rows), generation)

    def _prune(self, keep: set[str]) -> None:
        """Delete generations no pointer keeps any more, and builds or pointer files a crash left."""
        for entry in self.directory.iterdir():
            stale_build = entry.name.startswith(_PREFIX) and entry.name not in keep
            stale_pointer = entry.name.startswith(f".{_POINTER}.")
            if stale_build and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif stale_pointer:
                entry.unlink(missing_ok=True)

    # readers -----------------------------------------------------------------------------------
    def _load(self) -> _Loaded | None:
        """The published generation, in memory; loaded once however many threads ask at the same time.

        A folder that vanished between reading the pointer and loading it (the writer pruned it) sends
        the reader back to the pointer, a few times at most; after that, the generation this reader
        already holds (or none) serves until the next question.
        """
        for _ in range(_LOAD_ATTEMPTS):
            pointer = self._usable(self._pointer())
            if pointer is None:
                log.debug("no lexical index is published in %s yet: no BM25 candidates", self.directory)
                return None
            loaded = self._loaded
            if loaded is not None and loaded.folder == pointer.folder:
                return loaded
            with self._load_lock:
                loaded = self._loaded
                if loaded is not None and loaded.folder == pointer.folder:  # another thread loaded it
                    return loaded
                try:
                    loaded = _read(self.directory / pointer.folder)
                except FileNotFoundError:
                    log.debug(
                        "lexical generation %s went away while loading; reading the pointer again",
                        pointer.folder,
                    )
                    continue
                except (OSError, ValueError, KeyError) as exc:
                    log.warning(
                        "cannot read the lexical index %s (%s); using the previous one", pointer.folder, exc
                    )
                    return self._loaded
                self._loaded = loaded
                return loaded
        return self._loaded

    def scores(
        self, query_tokens: Sequence[str], scopes: Sequence[str] | None = None
    ) -> LexicalScores | None:
        """Score every sentence against a query (tokens from ``tokenize``); outside ``scopes`` scores 0."""
        loaded = self._load()
        if loaded is None or loaded.retriever is None:
            return None
        retriever, rowids = loaded.retriever, loaded.rowids
        tokens = [t for t in query_tokens if t in retriever.vocab_dict]
        if not tokens:
            return LexicalScores(rowids, np.zeros(len(rowids), dtype=np.float32), 0)
        scores = np.asarray(retriever.get_scores(tokens), dtype=np.float32)
        if scopes is not None:
            wanted = set(scopes)
            allowed = [i for i, n in enumerate(loaded.scope_names) if n in wanted]
            scores = np.where(np.isin(loaded.scopes, allowed), scores, 0.0).astype(np.float32)
        return LexicalScores(rowids, scores, len(tokens))

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each (tokenized) term; unknown terms get the maximum."""
        loaded = self._load()
        if loaded is None or loaded.retriever is None:
            return {t: 1.0 for t in terms}
        retriever = loaded.retriever
        indptr = retriever.scores["indptr"]
        n = float(retriever.scores["num_docs"])
        out = {}
        for t in terms:
            j = retriever.vocab_dict.get(t)
            df = float(indptr[j + 1] - indptr[j]) if j is not None else 0.0
            out[t] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out


def _tokenize_rows(
    rows: Sequence[tuple[int, str, str]], languages: Sequence[str | None] | None
) -> list[list[str]]:
    """Each row's tokens in its document's language, in row order."""
    langs = [lang or DEFAULT_LANGUAGE for lang in languages] if languages else [DEFAULT_LANGUAGE] * len(rows)
    out: list[list[str]] = [[] for _ in rows]
    for lang in sorted(set(langs)):
        where = [i for i, got in enumerate(langs) if got == lang]
        for i, tokens in zip(where, tokenize([rows[i][2] for i in where], lang), strict=True):
            out[i] = tokens
    return out


def _read(folder: Path) -> _Loaded:
    """Read a generation wholly into memory (no mmap), so its folder may be deleted afterwards."""
    import bm25s

    rowids = np.load(folder / "rowids.npy")
    scopes = np.load(folder / "scopes.npy")
    names = json.loads((folder / "scopes.json").read_text(encoding="utf-8"))
    retriever = None
    if len(rowids):
        _quiet_bm25s()
        retriever = bm25s.BM25.load(str(folder / "bm25"), mmap=False, show_progress=False)
    return _Loaded(folder.name, retriever, rowids, scopes, list(names))


def _fsync_tree(folder: Path) -> None:
    """Flush a built generation's files and folders to disk before the pointer names it."""
    for path in sorted(folder.rglob("*"), reverse=True):
        fsync_path(path)
    fsync_path(folder)
