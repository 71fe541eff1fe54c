"""citebot's core: ingest documents, index them, retrieve the sentences that answer a question.

Importing this package loads no model and opens no database; that happens on first use.
"""

from .chain import CitingRetriever, build_chain
from .errors import (
    CitebotError,
    ConfigurationError,
    DocumentError,
    IndexBusyError,
    IndexUnavailableError,
    InvalidQuestionError,
    NoDocumentsError,
)
from .index import SHARED_SCOPE, Index, open_index
from .ingest import IngestReport, ingest
from .models import Answer, Citation, Query
from .settings import Settings

__all__ = [
    "SHARED_SCOPE",
    "Answer",
    "Citation",
    "CitebotError",
    "CitingRetriever",
    "ConfigurationError",
    "DocumentError",
    "Index",
    "IndexBusyError",
    "IndexUnavailableError",
    "IngestReport",
    "InvalidQuestionError",
    "NoDocumentsError",
    "Query",
    "Settings",
    "build_chain",
    "ingest",
    "open_index",
]
