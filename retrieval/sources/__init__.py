"""Sources beyond local files: web pages (fetched safely), and the links citations carry back to them.

Importing this package loads nothing heavy: the fetching client (httpx) is imported by ``fetch`` and
``web`` only, when a page is fetched.
"""

from __future__ import annotations

from .links import citation_url, with_text_fragment

__all__ = ["citation_url", "with_text_fragment"]
