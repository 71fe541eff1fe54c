"""The ledger: which indexed documents came from which entry of the sources file.

``citebot sync`` removes the documents of sources no longer listed, and only those: documents ingested
by hand or uploaded are never its business. So each entry's document keys are recorded in
``sources.json`` in the index folder, rewritten atomically (a temporary file renamed over it) so a kill
at any moment leaves either the old ledger or the new one.

An entry is marked ``pending`` before its documents change and cleared once they are recorded; a sync
that finds an entry still pending (a crash came between) counts every document the entry's location
holds as its own, so nothing it added is left behind unrecorded.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import atomic_write

log = logging.getLogger(__name__)

LEDGER_FILE = "sources.json"
_VERSION = 1


@dataclass
class Entry:
    """What the ledger knows of one source (see :attr:`retrieval.sources.config.Source.key`)."""

    kind: str
    location: str
    scope: str
    docs: list[str] = field(default_factory=list)
    pending: bool = False
    refreshed: float = 0.0


class Ledger:
    """The entries of the last syncs, loaded from and saved to ``<index>/sources.json``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LEDGER_FILE
        self.entries: dict[str, Entry] = {}
        self.load()

    def load(self) -> None:
        """Read the ledger; a missing one is empty, an unreadable one is logged and started afresh."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = {k: Entry(**v) for k, v in raw["entries"].items()}
        except FileNotFoundError:
            self.entries = {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the sync ledger %s can't be read (%s); starting a new one", self.path, exc)
            self.entries = {}

    def save(self) -> None:
        """Write the ledger atomically: a kill or a power cut leaves the old ledger or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": _VERSION, "entries": {k: asdict(e) for k, e in self.entries.items()}}
        # Owner-only, as mkstemp made it before: only `citebot sync`, a writer, reads it.
        atomic_write(self.path, json.dumps(payload, indent=1, sort_keys=True), mode=0o600)

    def begin(self, key: str, kind: str, location: str, scope: str) -> Entry:
        """Mark an entry as changing (saved before any document changes)."""
        entry = self.entries.setdefault(key, Entry(kind, location, scope))
        entry.pending = True
        self.save()
        return entry

    def finish(self, key: str, docs: list[str], *, refreshed: bool = False) -> None:
        """Record an entry's documents once its change is done."""
        entry = self.entries[key]
        entry.docs = sorted(set(docs))
        entry.pending = False
        if refreshed:
            entry.refreshed = time.time()
        self.save()

    def drop(self, key: str) -> None:
        """Forget an entry whose documents are removed."""
        if self.entries.pop(key, None) is not None:
            self.save()
