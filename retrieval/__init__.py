"""citebot's core: ingest documents, index them, retrieve the sentences that answer a question.

Front ends use :class:`Library` (documents, uploads, answers) and the names below; everything else in
the subpackages is private to the core. Importing this package loads no model and opens no database;
that happens on first use.
"""

from .answer.render import (
    SECTION_SEPARATOR,
    Piece,
    Rendering,
    answer_pieces,
    render_citation,
    section_path,
    to_markdown,
)
from .chain import CitingRetriever, build_chain, clean_question
from .errors import (
    CitebotError,
    ConfigurationError,
    DocumentError,
    IndexBusyError,
    IndexUnavailableError,
    InvalidQuestionError,
    NoDocumentsError,
)
from .index import SHARED_SCOPE, Index, IndexStats, open_index
from .ingest import IngestReport, ingest
from .ingest.formats import FORMATS, Format, MediaKind, describe_formats, format_for
from .library import Added, Document, DocumentState, Library, Passage, PassageUnit
from .models import Answer, Citation, Query
from .settings import Settings

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
    "Rendering",
    "Settings",
    "answer_pieces",
    "build_chain",
    "clean_question",
    "describe_formats",
    "format_for",
    "ingest",
    "open_index",
    "render_citation",
    "section_path",
    "to_markdown",
]
