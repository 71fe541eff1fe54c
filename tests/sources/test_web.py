"""Web pages as documents: a page, re-syncs that cost nothing, gone pages, sitemaps, crawls, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from retrieval import SHARED_SCOPE, Index, Library
from retrieval.cli import main
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.errors import FetchError, RefusedURLError
from retrieval.sources.fetch import Fetcher
from retrieval.sources.web import PageStore

from .conftest import Route, Site

MakeFetcher = Callable[..., Fetcher]
HARVEST = "The zorblatt harvest reached 42,000 tonnes this year."


def _count_embedding(index: Index, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many texts each embedding call gets (the real call still runs)."""
    calls: list[int] = []
    encode = index.embedder.encode

    def counting(texts: list[str], **kwargs: object) -> np.ndarray:
        calls.append(len(texts))
        return encode(texts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index.embedder, "encode", counting)
    return calls


def test_a_page_is_kept_indexed_and_cited_with_its_url(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """The body is kept in the index folder with its URL, ETag and hash; the document's source is its URL."""
    site.page("/harvest.html", "Harvest report", HARVEST, etag='"v1"')
    library = Library(fake_index)
    report = library.add_url(site.url("/harvest.html"), fetcher=make_fetcher())
    assert report.ingest.added == [site.url("/harvest.html")] and report.pages == [site.url("/harvest.html")]
    (doc,) = library.documents()
    assert (doc.source, doc.url, doc.title) == (
        site.url("/harvest.html"),
        site.url("/harvest.html"),
        "Harvest report",
    )
    store = PageStore(fake_index.directory, SHARED_SCOPE)
    (record,) = store.records()
    assert store.folder == fake_index.directory / "web" / SHARED_SCOPE
    assert (record.url, record.etag) == (site.url("/harvest.html"), '"v1"')
    assert store.body_path(record).read_bytes() == site.routes["/harvest.html"].body
    answer = library.ask("How large was the zorblatt harvest?")
    assert answer.citations[0].text == HARVEST
    assert (
        answer.citations[0].url
        == site.url("/harvest.html")
        + "#:~:text=The%20zorblatt%20harvest%20reached%2042%2C000%20tonnes%20this%20year."
    )


def test_resyncing_an_unchanged_page_embeds_nothing(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """304 (validators sent) and a 200 with the same bytes both leave the page unchanged, unembedded."""
    site.page("/p.html", "P", HARVEST, etag='"v1"')
    library = Library(fake_index)
    url = site.url("/p.html")
    library.add_url(url, fetcher=make_fetcher())
    calls = _count_embedding(fake_index, monkeypatch)
    again = library.add_url(url, fetcher=make_fetcher())
    assert (again.not_modified, again.ingest.unchanged, calls) == (1, [url], [])
    assert site.seen[-1][1]["if-none-match"] == '"v1"'
    site.routes["/p.html"].etag = '"v2"'  # a new ETag, the same bytes: the hash says unchanged
    same = library.add_url(url, fetcher=make_fetcher())
    assert (same.not_modified, same.ingest.unchanged, calls) == (0, [url], [])
    site.page("/p.html", "P", HARVEST.replace("42,000", "51,000"), etag='"v3"')
    changed = library.add_url(url, fetcher=make_fetcher())
    assert changed.ingest.updated == [url] and sum(calls) > 0
    (doc,) = library.documents()
    assert fake_index.catalog.document_texts(doc.key) == [HARVEST.replace("42,000", "51,000")]


def test_a_page_that_is_gone_leaves_the_index(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """A 404 or 410 on re-sync removes the document and its kept copy; another failure keeps it."""
    site.page("/p.html", "P", HARVEST)
    library = Library(fake_index)
    url = site.url("/p.html")
    library.add_url(url, fetcher=make_fetcher())
    site.routes["/p.html"] = Route(status=503)
    failing = library.add_url(url, fetcher=make_fetcher())
    assert failing.failed and [d.url for d in library.documents()] == [url]
    site.routes["/p.html"] = Route(status=410)
    gone = library.add_url(url, fetcher=make_fetcher())
    assert gone.gone == [url] and library.documents() == []
    assert list((fake_index.directory / "web" / SHARED_SCOPE).iterdir()) == []


def test_forgetting_a_page_deletes_its_kept_copy(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """Library.forget of a web page removes it and its stored body and record, so no re-sync revives it."""
    site.page("/p.html", "P", HARVEST)
    library = Library(fake_index)
    library.add_url(site.url("/p.html"), "g1", fetcher=make_fetcher())
    assert [d.url for d in library.forget(site.url("/p.html"), "g1")] == [site.url("/p.html")]
    assert library.documents("g1") == [] and list((fake_index.directory / "web" / "g1").iterdir()) == []


def _sitemap(urls: list[str], index: bool = False) -> bytes:
    tag, item = ("sitemapindex", "sitemap") if index else ("urlset", "url")
    items = "".join(f"<{item}><loc>{u}</loc></{item}>" for u in urls)
    return f'<?xml version="1.0"?><{tag} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</{tag}>'.encode()


def test_a_sitemap_index_indexes_its_pages_honouring_robots_txt(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """Nested sitemaps are followed; robots.txt's Disallow and other sites' pages are left out."""
    for name in ("a", "b", "private"):
        site.page(f"/{name}.html", name.upper(), f"Page {name} says the zorblatt count is {len(name)}.")
    site.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private", content_type="text/plain")
    site.routes["/sitemap.xml"] = Route(
        _sitemap([site.url("/pages.xml")], index=True), content_type="application/xml"
    )
    site.routes["/pages.xml"] = Route(
        _sitemap(
            [
                site.url("/a.html"),
                site.url("/b.html"),
                site.url("/private.html"),
                "http://other.example/x.html",
            ]
        ),
        content_type="text/xml",
    )
    library = Library(fake_index)
    report = library.add_url(site.url("/sitemap.xml"), fetcher=make_fetcher())
    assert sorted(report.ingest.added) == [site.url("/a.html"), site.url("/b.html")]
    assert report.blocked == [site.url("/private.html")]
    assert site.count("/private.html") == 0
    # The sitemap drops b, whose page is then gone: a re-sync asks for it once more and removes it.
    site.routes["/pages.xml"].body = _sitemap([site.url("/a.html")])
    del site.routes["/b.html"]
    again = library.add_url(site.url("/sitemap.xml"), fetcher=make_fetcher())
    assert again.gone == [site.url("/b.html")]
    assert [d.url for d in library.documents()] == [site.url("/a.html")]


def test_a_crawl_follows_same_site_links_within_depth_and_page_bounds(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """Depth 1 reaches the start's links only; other sites and robots-disallowed pages are never fetched."""
    site.page(
        "/",
        "Home",
        "Welcome to the zorblatt site.",
        links=["/a.html", "/b.html", "/no/c.html", "http://other.example/"],
    )
    site.page("/a.html", "A", "Zorblatt page A.", links=["/deep.html"])
    site.page("/b.html", "B", "Zorblatt page B.")
    site.page("/no/c.html", "C", "Zorblatt page C.")
    site.page("/deep.html", "Deep", "Zorblatt deep page.")
    site.routes["/robots.txt"] = Route(b"User-agent: citebot\nDisallow: /no/", content_type="text/plain")
    library = Library(fake_index)
    report = library.add_url(site.url("/"), crawl=True, depth=1, fetcher=make_fetcher())
    assert report.pages == [site.url("/"), site.url("/a.html"), site.url("/b.html")]
    assert report.blocked == [site.url("/no/c.html")]
    assert site.count("/deep.html") == site.count("/no/c.html") == 0
    # In another scope (pages known to a scope are re-checked on its next sync), at most two pages.
    bounded = library.add_url(
        site.url("/"), "other", crawl=True, depth=3, max_pages=2, fetcher=make_fetcher()
    )
    assert bounded.pages == [site.url("/"), site.url("/a.html")]
    assert len(library.documents("other")) == 2


def test_a_crawl_resolves_links_against_the_address_a_redirect_led_to(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """Starting at /docs, which moved to /docs/, a relative link "intro.html" is /docs/intro.html."""
    site.routes["/docs"] = Route(b"", status=301, headers={"Location": "/docs/"})
    site.page("/docs/", "Docs", "The zorblatt documentation starts here.", links=["intro.html"])
    site.page("/docs/intro.html", "Intro", "The zorblatt introduction.")
    report = Library(fake_index).add_url(site.url("/docs"), crawl=True, depth=1, fetcher=make_fetcher())
    assert site.count("/docs/intro.html") == 1 and site.count("/intro.html") == 0
    assert site.url("/docs/intro.html") in report.pages


def test_an_unavailable_robots_txt_stops_the_crawl_and_a_missing_one_allows_it(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """RFC 9309: robots.txt answering 5xx means nothing may be crawled; a 404 means everything may."""
    site.page("/", "Home", "Zorblatt home.", links=["/a.html"])
    site.page("/a.html", "A", "Zorblatt page A.")
    site.routes["/robots.txt"] = Route(status=503)
    library = Library(fake_index)
    blocked = library.add_url(site.url("/"), crawl=True, fetcher=make_fetcher())
    assert (blocked.pages, blocked.blocked) == ([site.url("/")], [site.url("/a.html")])
    del site.routes["/robots.txt"]
    allowed = library.add_url(site.url("/"), crawl=True, fetcher=make_fetcher())
    assert allowed.pages == [site.url("/"), site.url("/a.html")]


def test_a_refused_or_unfetchable_url_indexes_nothing(
    fake_index: Index, site: Site, make_fetcher: MakeFetcher
) -> None:
    """The URL asked for must be usable: a refusal, a 404, a wrong type or XML that is no sitemap raises."""
    site.routes["/logo.png"] = Route(b"\x89PNG", content_type="image/png")
    library = Library(fake_index)
    with pytest.raises(RefusedURLError):
        library.add_url(site.url("/x.html"), fetcher=make_fetcher(allow_private=False))
    with pytest.raises(FetchError, match="404"):
        library.add_url(site.url("/missing.html"), fetcher=make_fetcher())
    with pytest.raises(FetchError, match="image/png"):
        library.add_url(site.url("/logo.png"), fetcher=make_fetcher())
    site.routes["/feed.xml"] = Route(
        b"<rss><channel><title>News</title></channel></rss>", content_type="text/xml"
    )
    with pytest.raises(FetchError, match="lists no pages"):
        library.add_url(site.url("/feed.xml"), fetcher=make_fetcher())
    assert library.documents() == [] and not (fake_index.directory / "web" / SHARED_SCOPE).exists()


@pytest.mark.slow
def test_cli_ingest_of_a_loopback_url_is_refused_unless_allowed_and_metadata_always(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    real_embedder: SentenceEmbedder,
) -> None:
    """`citebot ingest URL`: refused on loopback (exit 1, one line, nothing indexed); allowed by the
    setting, then `citebot ask --json` cites the page's sentence with the URL; metadata refused even then."""
    site.page("/page.html", "Harvest report", HARVEST)
    url = site.url("/page.html")
    assert main(["ingest", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"Error: refused to fetch {url}: 127.0.0.1 is a loopback")
    assert site.seen == [] and not (tmp_path / "index" / "web").exists()
    monkeypatch.setenv("CITEBOT_FETCH_ALLOW_PRIVATE", "true")
    assert main(["ingest", url]) == 0
    assert "1 added" in capsys.readouterr().out
    assert main(["ask", "How large was the zorblatt harvest?", "--json"]) == 0
    cited = json.loads(capsys.readouterr().out)["citations"][0]
    assert (cited["source"], cited["text"]) == (url, HARVEST)
    assert cited["url"].startswith(url + "#:~:text=The%20zorblatt")
    assert main(["ingest", "http://169.254.169.254/latest/meta-data/"]) == 1
    err = capsys.readouterr().err.strip()
    metadata = "http://169.254.169.254/latest/meta-data/"
    assert err == f"Error: refused to fetch {metadata}: 169.254.169.254 is a cloud metadata address"


def test_cli_ingest_of_a_folder_with_a_refused_url_indexes_neither(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`citebot ingest FOLDER URL` judges the URL's addresses first: refused, the folder is not indexed."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The zorblatt harvest was large this year.\n", encoding="utf-8")
    url = site.url("/page.html")
    assert main(["ingest", str(docs), url]) == 1
    assert "127.0.0.1 is a loopback" in capsys.readouterr().err
    assert not (tmp_path / "index").exists()
    assert site.seen == []
