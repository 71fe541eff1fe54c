"""citebot's core: ingest documents, index them, retrieve the sentences that answer a question.

Front ends use :class:`Library` (documents, uploads, answers) and the names below; everything else in
the subpackages is private to the core. Importing this package loads no model and opens no database;
that happens on first use.
"""

from .answer.render import Rendering, answer_pieces, render_citation
from .atomic import atomic_write
from .chain import CitingRetriever, build_chain, clean_question
from .errors import (
    CitebotError,
    ConfigurationError,
    DocumentError,
    FetchError,
    IndexBusyError,
    IndexUnavailableError,
    InvalidQuestionError,
    NoDocumentsError,
    RefusedURLError,
)
from .index import SHARED_SCOPE, Index, IndexStats, open_index
from .ingest import IngestReport, ingest
from .ingest.formats import FORMATS, Format, MediaKind, describe_formats, format_for
from .library import Added, Document, DocumentState, Library, Passage, PassageUnit
from .markup import SECTION_SEPARATOR, Piece, section_path, to_markdown
from .models import Answer, Citation, Query
from .settings import Settings
from .sources.config import Source, SourcesFile, load_sources
from .sources.report import WebReport
from .sources.sync import Syncer, SyncReport

__all__ = [
    "FORMATS",
    "SECTION_SEPARATOR",
    "SHARED_SCOPE",
    "Added",
    "Answer",
    "Citation",
    "CitebotError",
    "CitingRetriever",
    "ConfigurationError",
    "Document",
    "DocumentError",
    "DocumentState",
    "FetchError",
    "Format",
    "Index",
    "IndexBusyError",
    "IndexStats",
    "IndexUnavailableError",
    "IngestReport",
    "InvalidQuestionError",
    "Library",
    "MediaKind",
    "NoDocumentsError",
    "Passage",
    "PassageUnit",
    "Piece",
    "Query",
    "RefusedURLError",
    "Rendering",
    "Settings",
    "Source",
    "SourcesFile",
    "SyncReport",
    "Syncer",
    "WebReport",
    "answer_pieces",
    "atomic_write",
    "build_chain",
    "clean_question",
    "describe_formats",
    "format_for",
    "ingest",
    "load_sources",
    "open_index",
    "render_citation",
    "section_path",
    "to_markdown",
]
