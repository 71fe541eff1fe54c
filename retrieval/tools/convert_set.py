"""A QA set's Markdown and reStructuredText documents as HTML pages, Word files or PDFs, same questions.

citebot's HTML, DOCX and PDF readers have no QA set of their own; this makes one from a text set, so the
same questions measure each format. Each document is converted by pandoc (HTML pages wrapped in a
docs site's navigation, sidebar and footer; DOCX straight from the source), and PDFs are those HTML
pages printed by headless Chromium (with its running header and footer, as a user's "Save as PDF"
gives). Evidence spans lose their offsets (``start``/``end`` become null, so ``score.py`` compares
text) and their text becomes what a reader of the converted file sees: the span converted by pandoc
to plain text, kept only when the whole document's plain text contains it, else the raw span (code,
which pandoc leaves alone or would misread as markup). Include lines of a docs site's build
(``{!../docs_src/app.py!}``, which the site replaces with the example's code) are left out: the set
doesn't hold the files they name, and no published page shows them; so are template tags
(``{% Tabs %}``), which the site renders as widgets. Needs ``pandoc`` and, for PDF,
``chromium``::

    python -m retrieval.tools.convert_set SET_DIR OUT_DIR --to html|docx|pdf
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import click

from .metrics import norm

log = logging.getLogger(__name__)

_MARKER = re.compile(r"^(\d{1,3}[.)]|[-*+•]|#\.)\s+", re.MULTILINE)
_INCLUDE = re.compile(r"^[ \t]*\{([!*]).*\1\}[ \t]*\n?", re.MULTILINE)
_TEMPLATE_TAG = re.compile(r"\{%.*?%\}")
_READERS = {".md": "gfm", ".markdown": "gfm", ".rst": "rst"}

_SITE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<header class="site-header"><a href="/">Project docs</a>
<nav><a href="/guide">Guide</a> <a href="/api">API</a> <a href="/faq">FAQ</a> <a href="/blog">Blog</a></nav>
</header>
<aside class="sidebar"><ul><li><a href="/install">Installation</a></li>
<li><a href="/quickstart">Quickstart</a></li><li><a href="/changelog">Changelog</a></li></ul></aside>
<main>
{body}
</main>
<footer><p>Copyright the project's authors.</p>
<p><a href="/privacy">Privacy</a> · <a href="/edit">Edit this page</a></p></footer>
</body></html>
"""


def pandoc(text: str, reader: str, writer: str, *extra: str) -> str:
    """``text`` converted by pandoc (standard input to standard output)."""
    done = subprocess.run(
        ["pandoc", "-f", reader, "-t", writer, "--wrap=none", *extra],
        input=text, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return done.stdout


def source_text(source: Path) -> str:
    """The document as its published page has it (without build-time include lines)."""
    return unpublished(source.read_text(encoding="utf-8"))


def unpublished(text: str) -> str:
    """``text`` without include lines and template tags (what the published page doesn't show)."""
    return _TEMPLATE_TAG.sub("", _INCLUDE.sub("", text))


def to_html(source: Path, title: str) -> str:
    """A docs-site page: pandoc's HTML of ``source`` inside navigation, a sidebar and a footer."""
    body = pandoc(source_text(source), _READERS[source.suffix], "html5")
    return _SITE.format(title=html.escape(title), body=body)


#: Images become their alt text in Word files (the sets ship no image files, and pandoc must embed them).
_NO_IMAGES = "function Image(el) return el.caption end\n"


def to_docx(source: Path, out: Path, tmp: Path) -> None:
    """A Word file of ``source``, written to ``out`` by pandoc."""
    lua = tmp / "no-images.lua"
    lua.write_text(_NO_IMAGES, encoding="utf-8")
    ast = subprocess.run(
        ["pandoc", "-f", _READERS[source.suffix], "-t", "json", "--lua-filter", str(lua)],
        input=source_text(source).encode("utf-8"), check=True, capture_output=True, timeout=120,
    ).stdout  # fmt: skip
    subprocess.run(["pandoc", "-f", "json", "-t", "docx", "-o", str(out)], input=ast, check=True, timeout=120)


def to_pdf(page: Path, out: Path) -> None:
    """``page`` printed to ``out`` by headless Chromium (running header and footer included)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--print-to-pdf={out}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def seen_text(span: str, reader: str, page_text: str) -> str:
    """What a reader of the converted document sees of ``span``: pandoc's plain text when the page has it."""
    try:
        # A list item's number or bullet is the list's, not the item's text (HTML and Word draw it).
        plain = _MARKER.sub("", pandoc(unpublished(span), reader, "plain").strip())
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        plain = ""
    if plain and norm(plain) and norm(plain) in page_text:
        return plain
    return span


def convert_questions(
    questions: list[dict[str, Any]], plains: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """The questions with each evidence span's offsets dropped and its text as the reader sees it."""
    out = []
    for q in questions:
        reader, page_text = plains.get(q.get("doc_id", ""), ("gfm", ""))
        evidence = [
            {"start": None, "end": None, "text": seen_text(e["text"], reader, page_text)}
            for e in q.get("evidence", [])
        ]
        out.append({**q, "evidence": evidence})
    return out


@click.command()
@click.argument("set_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--to", "target", type=click.Choice(["html", "docx", "pdf"]), required=True)
def main(set_dir: Path, out_dir: Path, target: str) -> None:
    """Write SET_DIR's text documents to OUT_DIR/docs as TARGET files, and OUT_DIR/questions.jsonl."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    docs = set_dir / "docs"
    plains: dict[str, tuple[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted(p for p in docs.rglob("*") if p.suffix in _READERS):
            doc_id = source.relative_to(docs).with_suffix("").as_posix()
            reader = _READERS[source.suffix]
            plains[doc_id] = (reader, norm(pandoc(source_text(source), reader, "plain")))
            out = out_dir / "docs" / f"{doc_id}.{target}"
            out.parent.mkdir(parents=True, exist_ok=True)
            if target == "docx":
                to_docx(source, out, Path(tmp))
            else:
                page = to_html(source, doc_id)
                if target == "html":
                    out.write_text(page, encoding="utf-8")
                else:
                    staged = Path(tmp) / f"{doc_id.replace('/', '_')}.html"
                    staged.write_text(page, encoding="utf-8")
                    to_pdf(staged, out)
            log.info("%s -> %s", source, out)
    lines = (set_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = convert_questions([json.loads(line) for line in lines if line.strip()], plains)
    with (out_dir / "questions.jsonl").open("w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    log.info("%d questions -> %s", len(questions), out_dir / "questions.jsonl")


if __name__ == "__main__":
    main()
