"""Sources beyond local files: web pages, fetched safely, and the sources files that list what to sync.

Importing this package loads nothing heavy: the fetching client (httpx) is imported by ``fetch`` and
``web`` only, when a page is fetched. The links citations carry back to web pages are not made here
but in :mod:`retrieval.links`, below the ranker, which fills them in.
"""
