"""Seeded mutators that turn good documents into hostile ones, for fuzzing every parser (test_fuzz.py).

``case(fmt, seed)`` is deterministic: the same format and seed give the same bytes on every machine
(``random.Random`` seeded with a string). Seeds cycle through the format's mutators in order (seed 0 is
the first mutator, seed ``len(mutators)`` the first again with other parameters), so the first seeds of
a format cover its most important mutations; from the second round on, a generic byte mutation is
sometimes stacked on top.

Seed documents are built here, in code, each with real prose so that an unharmed one produces units:
plain text, Markdown, reStructuredText, HTML, a PDF written object by object (so its streams, filters,
lengths and cross-reference table can be damaged one at a time) and a Word document made with
python-docx (its zip members rewritten one at a time).
"""

from __future__ import annotations

import codecs
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

FORMATS: tuple[str, ...] = ("txt", "md", "rst", "html", "pdf", "docx")

Mutator = Callable[[random.Random], bytes]


@dataclass(frozen=True)
class Case:
    """One fuzz case: a file's bytes, the name it is saved under, and what was done to it."""

    fmt: str
    seed: int
    mutation: str
    data: bytes

    @property
    def suffix(self) -> str:
        return f".{self.fmt}"

    @property
    def filename(self) -> str:
        return f"{self.fmt}_{self.seed:04d}_{self.mutation}{self.suffix}"


def case(fmt: str, seed: int) -> Case:
    """The mutated document number ``seed`` of format ``fmt``."""
    ops = MUTATORS[fmt]
    rng = random.Random(f"citebot-fuzz/{fmt}/{seed}")
    name, op = ops[seed % len(ops)]
    data = op(rng)
    if seed >= len(ops) and rng.random() < 0.3:
        stacked, generic = rng.choice(GENERIC)
        data, name = generic(rng, data), f"{name}+{stacked}"
    return Case(fmt, seed, name, data)


def cases(fmt: str, seeds: range) -> list[Case]:
    return [case(fmt, s) for s in seeds]


# --- generic byte mutations ---------------------------------------------------------------------------


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    """Flip bits or overwrite bytes at a few random places."""
    out = bytearray(data)
    if not out:
        return bytes(rng.randrange(256) for _ in range(8))
    for _ in range(rng.randint(1, 40)):
        i = rng.randrange(len(out))
        out[i] = out[i] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    """Cut the file short (anywhere, often near the end)."""
    if len(data) < 2:
        return data[:0]
    cut = rng.randrange(len(data)) if rng.random() < 0.6 else len(data) - rng.randint(1, min(200, len(data)))
    return data[:cut]


def insert_random(rng: random.Random, data: bytes) -> bytes:
    """Insert runs of random bytes at random places."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 10)):
        i = rng.randrange(len(out) + 1)
        out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(out)


def duplicate_slices(rng: random.Random, data: bytes) -> bytes:
    """Copy a slice of the file somewhere else, possibly many times over."""
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        a = rng.randrange(len(out))
        b = min(len(out), a + rng.randint(1, 2000))
        piece = bytes(out[a:b]) * rng.choice((1, 2, 10, 50))
        i = rng.randrange(len(out) + 1)
        out[i:i] = piece
    return bytes(out)


def delete_slices(rng: random.Random, data: bytes) -> bytes:
    """Remove a few slices."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        if not out:
            break
        a = rng.randrange(len(out))
        del out[a : a + rng.randint(1, 500)]
    return bytes(out)


def insert_tokens(rng: random.Random, data: bytes, tokens: tuple[bytes, ...]) -> bytes:
    """Insert syntax tokens of the format at random places (they reach deeper than random bytes)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 30)):
        i = rng.randrange(len(out) + 1)
        out[i:i] = rng.choice(tokens) * rng.choice((1, 1, 2, 50))
    return bytes(out)


GENERIC: tuple[tuple[str, Callable[[random.Random, bytes], bytes]], ...] = (
    ("flip", flip_bytes),
    ("truncate", truncate),
    ("insert", insert_random),
    ("duplicate", duplicate_slices),
    ("delete", delete_slices),
)


def _generic(seed_doc: Callable[[], bytes], fn: Callable[[random.Random, bytes], bytes]) -> Mutator:
    return lambda rng: fn(rng, seed_doc())


def _tokens(seed_doc: Callable[[], bytes], tokens: tuple[bytes, ...]) -> Mutator:
    return lambda rng: insert_tokens(rng, seed_doc(), tokens)


def _depth(rng: random.Random, *, indented: bool = False) -> int:
    """How deep to nest: around the parsers' own caps, and past Python's recursion limit.

    Nesting by indentation costs a line as long as its depth, so it stops at 600 levels (well past
    Python's recursion limit for every parser, and under 1 MB).
    """
    return rng.choice((50, 150, 250, 600) if indented else (50, 150, 250, 600, 1500, 5000, 20000))


# --- prose --------------------------------------------------------------------------------------------

PROSE = (
    "The Ashgrove canal was dug in 1794 to carry coal from the northern pits to the river port.",
    "Its forty-two locks lift boats more than ninety metres over eleven miles of hills.",
    "Horses towed the narrowboats until diesel engines replaced them after the Second World War.",
    "The lock keepers lived in small stone cottages beside the gates they tended.",
    "Traffic dwindled in the 1960s, and the upper reaches silted up within a decade.",
    "Volunteers reopened the flight of locks at Brindle Hill in 2004 after twelve years of work.",
    "Today the towpath is a cycle route that passes three aqueducts and a tunnel.",
    "The Marrow tunnel is 1,620 metres long and has no towpath of its own.",
    "Boaters once legged their craft through it, lying on their backs and walking along the roof.",
    "A small museum at the basin keeps the toll records, which list every cargo since 1801.",
)


def _paragraphs(sep: str = "\n\n") -> str:
    return sep.join(" ".join(PROSE[i : i + 3]) for i in range(0, len(PROSE), 3))


# --- plain text -------------------------------------------------------------------------------------------


@cache
def seed_txt() -> bytes:
    return ("Ashgrove Canal\n\n" + _paragraphs() + "\n").encode("utf-8")


def _text() -> str:
    return seed_txt().decode("utf-8")


def _mis_encoded(rng: random.Random) -> bytes:
    """The prose in an encoding that is not UTF-8, or UTF-8 that is not valid."""
    text = _text().replace("Ashgrove", "Åshgrøve").replace("canal", "canal — «écluse»")
    choice = rng.randrange(12)
    if choice == 0:
        return text.encode("latin-1", "replace")
    if choice == 1:
        return text.encode("utf-16-le")  # no BOM
    if choice == 2:
        return text.encode("utf-16-be")  # no BOM
    if choice == 3:
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")[: rng.randrange(1, 400) | 1]  # odd length
    if choice == 4:
        return codecs.BOM_UTF8 + text.encode() + b"\xff\xfe\xc3\x28\xe2\x82"  # BOM, then invalid UTF-8
    if choice == 5:
        return codecs.BOM_UTF32_LE + text.encode("utf-32-le")[: -rng.randint(1, 3)]
    if choice == 6:
        data = bytearray(text.encode())
        for _ in range(rng.randint(1, 50)):
            data[rng.randrange(len(data)) : rng.randrange(len(data)) + 1] = rng.choice(
                (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82")
            )
        return bytes(data)
    if choice == 7:
        return text.encode("utf-16-le")[1:]  # UTF-16 without BOM, shifted by one byte
    if choice == 8:
        return (
            text.encode("cp1252", "replace") + "日本語".encode("shift_jis") + text.encode("cp1251", "replace")
        )
    if choice == 9:
        return text.replace("e", "\ud800").encode("utf-8", "surrogatepass")  # lone surrogates
    if choice == 10:
        return text.encode("utf-16-le").replace(b"\x00", b"", rng.randint(1, 200))  # some NULs lost
    return text.encode("utf-7")


def _control_chars(rng: random.Random) -> bytes:
    data = bytearray(seed_txt())
    for _ in range(rng.choice((3, 10, 100, 1000))):
        data.insert(rng.randrange(len(data) + 1), rng.choice(b"\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85"))
    return bytes(data)


def _odd_text(rng: random.Random) -> bytes:
    """Text that is valid but odd: huge lines, endless blank lines, combining marks, bidi controls."""
    choice = rng.randrange(7)
    n = rng.choice((1000, 50_000, 400_000))
    if choice == 0:
        return ("x" * n + " " + _text()).encode()  # one word longer than any sentence cap
    if choice == 1:
        return (_text() + "\n" * n + _text()).encode()
    if choice == 2:
        return ("a" + "\u0301" * n + " " + _text()).encode()  # one letter with n accents
    if choice == 3:
        return ("\u202e\u2066" * (n // 100) + _text()).encode()
    if choice == 4:
        return (_text().replace(" ", "\u200b")).encode()  # no spaces, only zero-width ones
    if choice == 5:
        return ("\r" * n + _text().replace("\n", "\r")).encode()  # old Mac line ends
    return ((_text() + " ") * (n // 1000 + 1)).replace(".", "").encode()  # one endless sentence


TXT_TOKENS = (b"\n", b"\r\n", b"\r", b"\t", b".", b"?!", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b" - ", b"1. ")


def _reencoded(seed_doc: Callable[[], bytes]) -> Mutator:
    """A markup seed with accented words, saved in an encoding other than UTF-8 (its markup may say UTF-8)."""

    def mutate(rng: random.Random) -> bytes:
        text = seed_doc().decode().replace("Ashgrove", "Åshgrøve").replace("locks", "écluses «locks»")
        return text.encode(rng.choice(("utf-16-le", "utf-16-be", "latin-1", "cp1252", "utf-32")), "replace")

    return mutate


# --- Markdown ---------------------------------------------------------------------------------------------


@cache
def seed_md() -> bytes:
    lines = [
        "# Ashgrove Canal",
        "",
        " ".join(PROSE[0:3]),
        "",
        "## How to work a lock",
        "",
        "Follow these steps:",
        "",
        "1. Close the bottom gates.",
        "2. Open the top paddles slowly.",
        "3. Wait until the levels match.",
        "",
        "> " + PROSE[3],
        "",
        "| Lock | Rise |",
        "|------|------|",
        "| Brindle Hill | 3.1 m |",
        "| Marrow | 2.4 m |",
        "",
        "```sh",
        "open-paddle --side top",
        "```",
        "",
        "- " + PROSE[4],
        "- " + PROSE[5] + " See [the trust](https://example.org/trust).",
        "",
        " ".join(PROSE[6:]),
        "",
    ]
    return "\n".join(lines).encode()


def _md_nesting(rng: random.Random) -> bytes:
    n = _depth(rng)
    sentence = PROSE[rng.randrange(len(PROSE))]
    kind = rng.randrange(9)
    if kind == 0:
        body = "> " * n + sentence
    elif kind == 1:
        body = "[" * n + sentence + "]" * rng.choice((0, n)) + "(https://x.org)"
    elif kind == 2:
        body = "\n".join("  " * i + "- " + sentence for i in range(min(n, 600)))
    elif kind == 3:
        body = "\n".join("   " * i + f"{i + 1}. " + sentence for i in range(min(n, 600)))
    elif kind == 4:
        body = "*" * n + sentence + "*" * n
    elif kind == 5:
        body = "![" * n + "a" + "](b)" * n
    elif kind == 6:
        body = "<div>\n\n" * n + sentence + "\n\n</div>" * n
    elif kind == 7:
        body = "\n".join("> " * i + "- " + sentence for i in range(min(n, 600)))
    else:
        body = "`" * n + sentence + "`" * (n - 1)
    return (body + "\n\n" + seed_md().decode()).encode() if rng.random() < 0.5 else body.encode()


def _md_odd(rng: random.Random) -> bytes:
    """Markdown constructs at their extremes: wide tables, unclosed fences, many references, long lines."""
    kind = rng.randrange(7)
    n = rng.choice((100, 2000, 8000))
    if kind == 0:
        cols = min(n, 5000)
        head = "|" + "|".join(f"c{i}" for i in range(cols)) + "|"
        return (head + "\n|" + "---|" * cols + "\n|" + "x|" * cols + "\n").encode()
    if kind == 1:
        return ("```\n" + _paragraphs("\n") + "\n" + "~~~\n" * n).encode()
    if kind == 2:
        m = min(n, 3000)
        refs = "".join(f"[r{i}]: https://example.org/{i} 'title'\n" for i in range(m))
        return (refs + "".join(f"[r{i}] " for i in range(m)) + PROSE[0]).encode()
    if kind == 3:
        return ("| a | b |\n|---|---|\n" + "| " + "x " * n + "| y |\n" + PROSE[1]).encode()
    if kind == 4:
        return ("\n".join("#" * (i % 9 + 1) + " " + PROSE[i % len(PROSE)] for i in range(n))).encode()
    if kind == 5:
        return ("&#" + "9" * 30 + "; &#x110000; &#0; &nbsp" + "\\" * n + " " + PROSE[2]).encode()
    return ("- a\n" + "\t \t" * n + "- b\n" + "---\n" * n + PROSE[3]).encode()


MD_TOKENS = (b"#", b">", b"[", b"](", b")", b"*", b"_", b"`", b"```", b"|", b"\n", b"- ", b"1. ", b"<", b"\\")


# --- reStructuredText -------------------------------------------------------------------------------------


@cache
def seed_rst() -> bytes:
    lines = [
        "Ashgrove Canal",
        "==============",
        "",
        " ".join(PROSE[0:3]),
        "",
        "How to work a lock",
        "------------------",
        "",
        "Follow these steps:",
        "",
        "#. Close the bottom gates.",
        "#. Open the top paddles slowly.",
        "",
        ".. note::",
        "",
        "   " + PROSE[3],
        "",
        "+--------------+-------+",
        "| Lock         | Rise  |",
        "+==============+=======+",
        "| Brindle Hill | 3.1 m |",
        "+--------------+-------+",
        "",
        ".. code-block:: sh",
        "",
        "   open-paddle --side top",
        "",
        "- " + PROSE[4],
        "- " + PROSE[5],
        "",
        " ".join(PROSE[6:]),
        "",
    ]
    return "\n".join(lines).encode()


def _rst_nesting(rng: random.Random) -> bytes:
    n = _depth(rng, indented=True)
    sentence = PROSE[rng.randrange(len(PROSE))]
    kind = rng.randrange(8)
    if kind == 0:  # each paragraph indented one more: nested block quotes
        body = "\n\n".join(" " * i + sentence for i in range(n))
    elif kind == 1:
        body = "\n\n".join("  " * i + "- " + sentence for i in range(n))
    elif kind == 2:
        body = "\n\n".join("   " * i + ".. note::" for i in range(n)) + "\n\n" + "   " * n + sentence
    elif kind == 3:
        body = "\n\n".join("   " * i + f"{i + 1}. " + sentence for i in range(n))
    elif kind == 4:  # definition lists in definition lists
        body = "\n".join("  " * i + f"term {i}" for i in range(n)) + "\n" + "  " * n + sentence
    elif kind == 5:  # line blocks
        body = "\n".join("| " + " " * i + sentence for i in range(n))
    elif kind == 6:  # sections, each with a new underline character
        chars = "=-~^\"'`#*+<>_:.,;!?$%&@/|\\"
        parts = []
        for i in range(min(n, 500)):
            title = f"Part {i}"
            parts.append(f"{title}\n{chars[i % len(chars)] * len(title)}\n\n{sentence}\n")
        body = "\n".join(parts)
    else:
        body = "\n\n".join("   " * i + ".. container::" for i in range(n)) + "\n\n" + "   " * n + sentence
    return body.encode()


def _rst_odd(rng: random.Random) -> bytes:
    """Directives and markup that reach outside the file, loop, or break tables."""
    kind = rng.randrange(9)
    tail = "\n\n" + " ".join(PROSE[:3]) + "\n"
    if kind == 0:
        body = ".. include:: /etc/passwd\n\n.. raw:: html\n   :file: /etc/hostname\n"
    elif kind == 1:
        body = ".. csv-table:: x\n   :file: /etc/passwd\n\n.. csv-table:: y\n   :url: http://127.0.0.1:9/\n"
    elif kind == 2:
        body = "|a| |b|\n\n.. |a| replace:: |b|\n.. |b| replace:: |a|\n"
    elif kind == 3:
        body = "+---+---+\n| a | b\n+===+\n| c | d | e |\n+---+---+---+---+\n"
    elif kind == 4:
        body = "=====  =====\na      b\n=====  =====\nc      d      e\n==\n"
    elif kind == 5:
        body = "".join(f"[#]_ [*]_ [{i}]_ `x <y_>`_ :unknown-role:`z` " for i in range(500))
    elif kind == 6:
        body = ".. image:: /etc/passwd\n   :scale: 50\n\n.. figure:: /dev/zero\n   :width: 1e999\n"
    elif kind == 7:
        body = (
            ".. math::\n\n   "
            + "\\frac{" * 500
            + "\n\n.. code-block:: python\n   :linenos: x\n   :emphasize-lines: 9-1\n"
        )
    else:
        body = ".. list-table::\n   :header-rows: 99\n   :widths: 0 -1\n\n   * - a\n     - b\n   * - c\n"
    return (body + tail).encode()


RST_TOKENS = (b"::", b".. ", b"=====", b"-----", b"`", b"``", b"|", b"*", b"_", b"\n", b"   ", b"+--+", b"#.")


# --- HTML -------------------------------------------------------------------------------------------------


@cache
def seed_html() -> bytes:
    items = "".join(f"<li>{p}</li>" for p in PROSE[4:6])
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Ashgrove Canal</title>"
        "<style>p{color:#333}</style></head><body>"
        "<nav><a href='/'>Home</a> <a href='/locks'>Locks</a></nav>"
        "<main><h1>Ashgrove Canal</h1>"
        f"<p>{' '.join(PROSE[0:3])}</p>"
        "<h2>How to work a lock</h2><p>Follow these steps:</p>"
        "<ol><li>Close the bottom gates.</li><li>Open the top paddles slowly.</li></ol>"
        f"<blockquote><p>{PROSE[3]}</p></blockquote>"
        "<table><tr><th>Lock</th><th>Rise</th></tr><tr><td>Brindle Hill</td><td>3.1 m</td></tr></table>"
        "<pre><code>open-paddle --side top</code></pre>"
        f"<ul>{items}</ul><p>{' '.join(PROSE[6:])}</p>"
        "</main><footer>© Canal trust</footer><script>var x = '<p>';</script></body></html>"
    )
    return page.encode()


def _html_nesting(rng: random.Random) -> bytes:
    n = _depth(rng)
    sentence = PROSE[rng.randrange(len(PROSE))]
    open_, close = rng.choice(
        (
            ("<div>", "</div>"),
            ("<ul><li>", "</li></ul>"),
            ("<ol><li>", "</li></ol>"),
            ("<table><tr><td>", "</td></tr></table>"),
            ("<blockquote>", "</blockquote>"),
            ("<b>", ""),
            ("<p>", ""),
            ("<section><article>", ""),
            ("<span><a href='#'>", "</a></span>"),
            ("<dl><dd>", "</dd></dl>"),
            ("<li>", ""),
            ("<pre>", ""),
            ("<h2>", ""),
            ("<svg><foreignObject>", ""),
        )
    )
    if open_.startswith("<table>"):
        n = min(n, 1500)  # the HTML reader takes time in the square of table nesting: 20,000 took minutes
    tail = close * n if rng.random() < 0.5 else ""
    return f"<html><body><main>{open_ * n}<p>{sentence}</p>{tail}</main></body></html>".encode()


def _html_odd(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    n = rng.choice((100, 5000, 100_000))
    prose = f"<p>{' '.join(PROSE[:3])}</p>"
    if kind == 0:
        body = prose + "<!-- never closed " + "x" * n
    elif kind == 1:
        body = prose + "<script>" + "<p>not text</p>" * (n // 10)
    elif kind == 2:
        body = prose + "<p>&#" + "9" * 40 + "; &#x110000; &#xD800; &#0; &#x; &" * (n // 100 + 1) + "</p>"
    elif kind == 3:
        body = f"<p title='{'a' * n}' " + " ".join(f"a{i}=b" for i in range(min(n, 20000))) + ">" + PROSE[0]
    elif kind == 4:
        body = "<" * n + prose + ">" * n
    elif kind == 5:
        body = "<p>" + "<span>x</span>" * n + "</p>" + prose
    elif kind == 6:
        body = "<![CDATA[" + prose + "<p" + "<br>" * min(n, 10_000)  # quadratic in <br>s: see slow_html()
    elif kind == 7:
        body = "<meta charset='utf-7'><meta http-equiv='refresh' content='0;url=file:///etc/passwd'>" + prose
    elif kind == 8:
        body = "<table>" + "<tr>" + "<td>c</td>" * min(n, 20000) + "</tr>" * 3 + "</table>" + prose
    else:
        body = "<a href='" + prose + "<h1>" + "</h1>" * n
    return f"<html><body>{body}".encode()


def slow_html(kind: str = "br") -> bytes:
    """HTML that the reader took minutes over (found by fuzzing).

    ``"br"``: 200,000 ``<br>`` in one paragraph (each was replaced in its parent's list of children, a
    linear search each: quadratic; now read in one pass); ``"tables"``: tables nested 20,000 deep (each
    cell's text is read again at every level: quadratic, so stopped at the time limit).
    """
    if kind == "br":
        return ("<html><body><p>" + PROSE[0] + "<br>" * 200_000 + "</p></body></html>").encode()
    return (
        "<html><body><main>" + "<table><tr><td>" * 20_000 + f"<p>{PROSE[0]}</p></main></body></html>"
    ).encode()


HTML_TOKENS = (
    b"<",
    b">",
    b"</div>",
    b"<div>",
    b"<p>",
    b"<li>",
    b"<table>",
    b"<td>",
    b"<!--",
    b"-->",
    b"&amp;",
    b"&#x10FFFF;",
    b"<![CDATA[",
    b"'",
    b'"',
    b"<script>",
    b"\x00",
)


# --- PDF --------------------------------------------------------------------------------------------------

_FONTS = ((b"F1", b"Helvetica"), (b"F2", b"Helvetica-Bold"), (b"F3", b"Courier"))


@dataclass
class PdfObj:
    """One indirect object: ``body`` is a plain object, or a stream's dictionary entries (no brackets).

    ``length`` is what the stream's ``/Length`` says, when it is not its true length (a lie).
    """

    body: bytes
    stream: bytes | None = None
    length: bytes | None = None

    def serialize(self) -> bytes:
        if self.stream is None:
            return self.body
        length = self.length if self.length is not None else b"%d" % len(self.stream)
        return b"<< %s /Length %s >>\nstream\n%s\nendstream" % (self.body, length, self.stream)


@dataclass
class Pdf:
    """A PDF as a list of objects (object number = index + 1), written with a cross-reference table."""

    objects: list[PdfObj]
    contents: list[int]  # object numbers of the pages' content streams
    pages: list[int]  # object numbers of the pages
    trailer: bytes = b""
    header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets: Callable[[list[int]], list[int]] | None = None  # rewrites the xref offsets (a lie)
    startxref: Callable[[int], int] | None = None

    def add(self, obj: PdfObj) -> int:
        self.objects.append(obj)
        return len(self.objects)

    def obj(self, number: int) -> PdfObj:
        return self.objects[number - 1]

    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        offsets = []
        for number, obj in enumerate(self.objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + obj.serialize() + b"\nendobj\n"
        xref = len(out)
        if self.offsets is not None:
            offsets = self.offsets(offsets)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % (o % 10**10) for o in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R %s >>\n" % (len(self.objects) + 1, self.trailer)
        out += b"startxref\n%d\n%%%%EOF\n" % (self.startxref(xref) if self.startxref else xref)
        return bytes(out)


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")


def _page_ops(page: int) -> bytes:
    """A page's drawing: a heading, body lines, a bulleted list, a table and a code line."""
    ops: list[bytes] = []
    y = 740
    ops.append(b"BT /F2 18 Tf 72 %d Td (%s) Tj ET" % (y, _escape(f"Ashgrove Canal, part {page + 1}")))
    for line in PROSE[page * 5 : page * 5 + 5]:
        y -= 16
        ops.append(b"BT /F1 11 Tf 72 %d Td (%s) Tj ET" % (y, _escape(line)))
    y -= 24
    for item in ("Close the bottom gates.", "Open the top paddles slowly."):
        ops.append(b"BT /F1 11 Tf 80 %d Td (\x95) Tj 12 0 Td (%s) Tj ET" % (y, _escape(item)))
        y -= 16
    y -= 10
    for cells in (("Lock", "Rise"), ("Brindle Hill", "3.1 m"), ("Marrow", "2.4 m")):
        ops.append(b"BT /F1 11 Tf 72 %d Td (%s) Tj 200 0 Td (%s) Tj ET" % (y, *map(_escape, cells)))
        y -= 16
    ops.append(b"BT /F3 10 Tf 72 %d Td (open-paddle --side top) Tj ET" % (y - 10))
    return b"\n".join(ops)


def pdf_document(*, compress: bool = True, pages: int = 2) -> Pdf:
    """The seed PDF: two pages of prose, list, table and code; content streams deflated by default."""
    font_refs = b" ".join(b"/%s %d 0 R" % (name, 3 + i) for i, (name, _) in enumerate(_FONTS))
    objects = [
        PdfObj(b"<< /Type /Catalog /Pages 2 0 R >>"),
        PdfObj(b""),  # the page tree, filled below
        *(
            PdfObj(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % base)
            for _, base in _FONTS
        ),
        PdfObj(b"<< /Title (Ashgrove Canal) /Producer (citebot fuzz) >>"),
    ]
    pdf = Pdf(objects, [], [])
    for page in range(pages):
        ops = _page_ops(page)
        content = PdfObj(b"/Filter /FlateDecode", zlib.compress(ops)) if compress else PdfObj(b"", ops)
        pdf.contents.append(pdf.add(content))
        pdf.pages.append(
            pdf.add(
                PdfObj(
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                    b"/Resources << /Font << %s >> >> >>" % (pdf.contents[-1], font_refs)
                )
            )
        )
    kids = b" ".join(b"%d 0 R" % k for k in pdf.pages)
    pdf.objects[1] = PdfObj(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pdf.pages)))
    return pdf


@cache
def seed_pdf() -> bytes:
    return pdf_document().to_bytes()


@cache
def seed_pdf_plain() -> bytes:
    """The seed PDF with uncompressed content streams: byte mutations reach its text operators."""
    return pdf_document(compress=False).to_bytes()


_JBIG2_DATA = b"\x97JB2\r\n\x1a\n\x01\x00\x00\x00\x01" + bytes(range(48))


def _set_page(pdf: Pdf, index: int, old: bytes, new: bytes) -> None:
    page = pdf.obj(pdf.pages[index])
    page.body = page.body.replace(old, new, 1)


def jbig2_pdf(where: str = "content") -> bytes:
    """A PDF whose page shows text and draws a JBIG2 image.

    ``where`` says where the ``/JBIG2Decode`` data sits: ``"content"`` (the bug the issue reports: a
    second content stream of the page is JBIG2-encoded, so pypdf's ``extract_text`` must decode it and
    raises ``DependencyError`` without the jbig2dec binary), ``"xobject"`` (an image XObject drawn with
    ``Do``) or ``"inline"`` (an inline image). ``"content"`` has the XObject and the inline image too.
    """
    pdf = pdf_document(pages=1)
    image = pdf.add(
        PdfObj(
            b"/Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 1 /Filter /JBIG2Decode",
            _JBIG2_DATA,
        )
    )
    show_image = b"q 100 0 0 100 300 100 cm /Im1 Do Q\n"
    inline_image = (
        b"q 50 0 0 50 72 100 cm BI /W 64 /H 64 /CS /G /BPC 1 /F /JBIG2Decode ID " + _JBIG2_DATA + b" EI Q"
    )
    ops = {"xobject": show_image, "inline": inline_image}.get(where, show_image + inline_image)
    page_contents = b"%d 0 R" % pdf.contents[0]
    refs = [page_contents, b"%d 0 R" % pdf.add(PdfObj(b"/Filter /FlateDecode", zlib.compress(ops)))]
    if where == "content":
        refs.append(b"%d 0 R" % pdf.add(PdfObj(b"/Filter /JBIG2Decode", _JBIG2_DATA)))
    _set_page(pdf, 0, b"/Contents " + page_contents, b"/Contents [" + b" ".join(refs) + b"]")
    _set_page(pdf, 0, b"/Resources << ", b"/Resources << /XObject << /Im1 %d 0 R >> " % image)
    return pdf.to_bytes()


#: Text the JBIG2 PDF shows (on its only page).
JBIG2_PDF_SENTENCE = PROSE[1]


def _pdf_jbig2(rng: random.Random) -> bytes:
    return jbig2_pdf(rng.choice(("content", "content", "xobject", "inline")))


_BAD_FILTERS = (
    b"/FlateDecodeX",
    b"/Foo",
    b"/LZWDecode",
    b"/ASCII85Decode",
    b"/ASCIIHexDecode",
    b"/RunLengthDecode",
    b"/DCTDecode",
    b"/JPXDecode",
    b"/CCITTFaxDecode",
    b"/Crypt",
    b"/BrotliDecode",
    b"/JBIG2Decode",
    b"[/FlateDecode /FlateDecode]",
    b"[/FlateDecode /JBIG2Decode]",
    b"[]",
    b"[/Foo /Bar /Baz]",
    b"42",
    b"(FlateDecode)",
    b"null",
    b"<< /FlateDecode 1 >>",
    b"[" + b"/FlateDecode " * 40 + b"]",
)
_BAD_PARMS = (
    b"/DecodeParms << /Predictor 15 /Columns 0 >>",
    b"/DecodeParms << /Predictor 12 /Columns -4 /Colors 3 >>",
    b"/DecodeParms << /Predictor 2 /Columns 999999999 /BitsPerComponent 3 >>",
    b"/DecodeParms << /K -1 /Columns 1728 >>",
    b"/DecodeParms [null null]",
    b"/DecodeParms 7",
    b"",
)


def _pdf_wrong_filter(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.8)
    for number in pdf.contents:
        if rng.random() < 0.7:
            pdf.obj(number).body = b"/Filter %s %s" % (rng.choice(_BAD_FILTERS), rng.choice(_BAD_PARMS))
    return pdf.to_bytes()


def _pdf_truncated_flate(rng: random.Random) -> bytes:
    pdf = pdf_document()
    for number in pdf.contents:
        obj = pdf.obj(number)
        assert obj.stream is not None
        cut = rng.randrange(len(obj.stream))
        obj.stream = (
            obj.stream[:cut] if rng.random() < 0.7 else obj.stream[:cut] + b"\x00" * rng.randint(1, 50)
        )
        if rng.random() < 0.3:
            obj.length = b"%d" % (cut + rng.randint(1, 500))  # and a /Length that still says the old size
    return pdf.to_bytes()


def _pdf_xref(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5)
    kind = rng.randrange(6)
    if kind == 0:
        delta = rng.choice((-50, -7, -1, 1, 3, 1000))
        pdf.offsets = lambda offs: [max(0, o + delta) for o in offs]
    elif kind == 1:
        pdf.offsets = lambda offs: [rng.randrange(10**6) for _ in offs]
    elif kind == 2:
        pdf.offsets = lambda offs: offs[::-1]
    elif kind == 3:
        pdf.startxref = lambda x: x + rng.choice((-30, -1, 5, 10**9))
    elif kind == 4:
        pdf.offsets = lambda offs: [0] * len(offs)
        pdf.startxref = lambda x: 0
    else:
        data = pdf.to_bytes()
        start = data.rindex(b"xref\n")
        return data[:start] + rng.choice((b"", b"xref\n0 999999999\n", b"trailer\n<< >>\n%%EOF\n"))
    return pdf.to_bytes()


_LENGTH_LIES = (
    b"0",
    b"-1",
    b"-99999",
    b"1",
    b"999999",
    b"99999999999999",
    b"99 0 R",
    b"6 0 R",
    b"(x)",
    b"1.5",
)


def _pdf_length_lie(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.6)
    for number in pdf.contents:
        obj = pdf.obj(number)
        assert obj.stream is not None
        lie = rng.choice((*_LENGTH_LIES, b"%d" % (len(obj.stream) + rng.randint(-20, 20))))
        obj.length = lie
    return pdf.to_bytes()


@cache
def deflated_spaces(megabytes: int) -> bytes:
    """``megabytes`` MB of spaces, deflated (about a thousandth of the size)."""
    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    return b"".join([packer.compress(block) for _ in range(megabytes)] + [packer.flush()])


def _pdf_flate_bomb(rng: random.Random) -> bytes:
    pdf = pdf_document(pages=1)
    bomb = deflated_spaces(rng.choice((100, 300)))
    kind = rng.randrange(3)
    if kind == 0:  # a content stream of the page
        ref = pdf.add(PdfObj(b"/Filter /FlateDecode", bomb))
        _set_page(
            pdf,
            0,
            b"/Contents %d 0 R" % pdf.contents[0],
            b"/Contents [%d 0 R %d 0 R]" % (pdf.contents[0], ref),
        )
    elif kind == 1:  # one small stream repeated in the contents array: the array's total is the bomb
        ref = pdf.add(PdfObj(b"/Filter /FlateDecode", deflated_spaces(20)))
        refs = b" ".join([b"%d 0 R" % pdf.contents[0]] + [b"%d 0 R" % ref] * 20)
        _set_page(pdf, 0, b"/Contents %d 0 R" % pdf.contents[0], b"/Contents [%s]" % refs)
    else:  # a font's ToUnicode map
        ref = pdf.add(PdfObj(b"/Filter /FlateDecode", bomb))
        font = pdf.obj(3)
        font.body = font.body.replace(b">>", b"/ToUnicode %d 0 R >>" % ref)
    return pdf.to_bytes()


def _pdf_deep(rng: random.Random) -> bytes:
    n = _depth(rng)
    pdf = pdf_document(pages=1)
    kind = rng.randrange(5)
    if kind == 0:  # nested arrays in the page dictionary
        _set_page(pdf, 0, b"/Type /Page", b"/Type /Page /Junk " + b"[" * n + b"1" + b"]" * n)
    elif kind == 1:  # nested dictionaries in the resources
        _set_page(
            pdf, 0, b"/Resources << ", b"/Resources << /Junk " + b"<< /A " * n + b"1" + b" >>" * n + b" "
        )
    elif kind == 2:  # a chain of page-tree nodes n deep above the page
        n = min(n, 3000)
        first = len(pdf.objects) + 1
        for i in range(n):
            kid = first + i + 1 if i + 1 < n else pdf.pages[0]
            pdf.add(PdfObj(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % kid))
        pdf.objects[1] = PdfObj(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % first)
    elif kind == 3:  # form XObjects drawing each other n deep
        n = min(n, 3000)
        first = len(pdf.objects) + 1
        for i in range(n):
            inner = (
                b"/X%d Do" % (first + i + 1)
                if i + 1 < n
                else b"BT /F1 11 Tf 72 72 Td (" + _escape(PROSE[7]) + b") Tj ET"
            )
            res = b"/XObject << /X%d %d 0 R >>" % (first + i + 1, first + i + 1) if i + 1 < n else b""
            pdf.add(
                PdfObj(
                    b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                    b"/Resources << %s /Font << /F1 3 0 R >> >>" % res,
                    inner,
                )
            )
        _set_page(pdf, 0, b"/Resources << ", b"/Resources << /XObject << /X%d %d 0 R >> " % (first, first))
        content = pdf.obj(pdf.contents[0])
        content.body, content.stream = b"", _page_ops(0) + b"\n/X%d Do" % first
    else:  # nested TJ arrays and q/Q in the content stream
        content = pdf.obj(pdf.contents[0])
        content.body = b""
        content.stream = (
            b"q " * n + b"BT /F1 11 Tf 72 72 Td " + b"[" * n + b"(deep)" + b"]" * n + b" TJ ET" + b" Q" * n
        )
        content.stream += b"\n" + _page_ops(0)
    return pdf.to_bytes()


def _pdf_cycles(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5)
    kind = rng.randrange(6)
    if kind == 0:
        pdf.objects[1] = PdfObj(b"<< /Type /Pages /Kids [2 0 R %d 0 R] /Count 2 >>" % pdf.pages[0])
    elif kind == 1:
        _set_page(pdf, 0, b"/Parent 2 0 R", b"/Parent %d 0 R" % pdf.pages[0])
        _set_page(pdf, 0, b"/Type /Page ", b"/Type /Pages /Kids [%d 0 R] " % pdf.pages[0])
    elif kind == 2:
        _set_page(pdf, 0, b"/Contents %d 0 R" % pdf.contents[0], b"/Contents [%d 0 R]" % pdf.pages[0])
    elif kind == 3:
        ref = len(pdf.objects) + 1
        pdf.add(
            PdfObj(
                b"/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources << /XObject << /S %d 0 R >> >>"
                % ref,
                b"/S Do",
            )
        )
        _set_page(pdf, 0, b"/Resources << ", b"/Resources << /XObject << /S %d 0 R >> " % ref)
        content = pdf.obj(pdf.contents[0])
        content.body, content.stream = b"", _page_ops(0) + b"\n/S Do"
    elif kind == 4:
        pdf.objects[5] = PdfObj(b"<< /Title 6 0 R /Author 6 0 R >>")
    else:  # resources inherited from a parent that points back at itself
        pdf.objects[1] = PdfObj(
            b"<< /Type /Pages /Kids [%s] /Count 2 /Resources 2 0 R /Parent 2 0 R >>"
            % b" ".join(b"%d 0 R" % p for p in pdf.pages)
        )
    return pdf.to_bytes()


_BAD_OPS = (
    b"BT /F1 1e308 Tf 72 700 Td (huge font) Tj ET",
    b"BT /F1 11 Tf 1e308 0 0 1e308 0 0 Tm (huge matrix) Tj ET",
    b"1e308 0 0 1e308 1e308 1e308 cm BT /F1 11 Tf (overflow) Tj ET",
    b"0 0 0 0 0 0 cm BT /F1 11 Tf 72 700 Td (singular) Tj ET",
    b"BT /F1 0 Tf 0 Tz 72 700 Td (zero size) Tj ET",
    b"BT /F1 11 Tf -0 Tz 1e38 TL T* T* (leading) Tj ET",
    b"BT /F1 11 Tf (a) (b) 1 2 Td Tj ET",
    b"BT /F9 11 Tf 72 700 Td (missing font) Tj ET",
    b"BT /F1 Tf Td Tj TJ ' \" Tm ET",
    b"BT /F1 11 Tf [(a) -1e308 (b) 1e308 (c)] TJ ET",
    b"BT /F1 11 Tf 72 700 Td <ZZ> Tj <0> Tj ET",
    b"BT /F1 11 Tf 72 700 Td (unclosed Tj ET",
    b"BT /F1 11 Tf nan nan Td (nan) Tj ET",
    b"BT 11 /F1 Tf /Name 72 Td [[(nested)]] TJ ET",
    b"BT /F1 11 Tf 3 Tr 72 700 Td (invisible) Tj ET",
    b"BI /W 99999999 /H 99999999 /BPC 8 /CS /RGB ID \x00\x00 EI",
    b"BI /W 4 /H 4 ID \x00",
    b"ET ET ET Q Q Q BT BT BT",
    b"BT /F1 11 Tf 72 700 Td (" + b"\\" * 301 + b") Tj ET",
    b"BT /F1 11 Tf 999999999999999999999999 0 Td (big int) Tj ET",
)


def _pdf_bad_ops(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5, pages=1)
    content = pdf.obj(pdf.contents[0])
    ops = [_page_ops(0)]
    for _ in range(rng.randint(1, 4)):
        ops.insert(rng.randrange(len(ops) + 1), rng.choice(_BAD_OPS))
    content.body, content.stream = b"", b"\n".join(ops)
    return pdf.to_bytes()


_BAD_FONTS = (
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
    b"/FirstChar 4294967295 /LastChar -5 /Widths [1 2 (x)] >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
    b"/Encoding << /Differences [32 /space 1e9 /a -4 /b (c)] >> >>",
    b"<< /Type /Font /Subtype /Type0 /BaseFont /Foo /Encoding /Identity-H >>",
    b"<< /Type /Font /Subtype /Type0 /BaseFont /Foo /Encoding /Identity-H /DescendantFonts [99 0 R] >>",
    b"<< /Type /Font /Subtype /Type0 /BaseFont /Foo /Encoding /NoSuchCMap "
    b"/DescendantFonts [<< /Subtype /CIDFontType2 /W [1 [2 3] 4] >>] >>",
    b"<< /Type /Font /Subtype /Type3 /FontMatrix [0 0 0 0 0 0] /FontBBox [0 0 0 0] /CharProcs << >> "
    b"/Encoding << /Differences [0 /a] >> /FirstChar 0 /LastChar 255 /Widths [] >>",
    b"<< /Type /Font /Subtype /TrueType /BaseFont /Foo /Encoding /MacRomanEncoding "
    b"/FontDescriptor << /Flags (x) /FontFile2 99 0 R >> >>",
    b"<< /Type /Font >>",
    b"(not a font)",
    b"null",
)
_BAD_CMAPS = (
    b"beginbfrange\n<0000> <FFFF> <0000>\nendbfrange",
    b"beginbfrange\n<00> <FF> [<41> <42>]\nendbfrange",
    b"beginbfchar\n<20> <D800>\n<41> <>\n<> <41>\n<4> <ZZ>\nendbfchar",
    b"begincodespacerange\n<00> <FFFFFFFFFF>\nendcodespacerange\nbeginbfchar\n<0041> <0042>\nendbfchar",
    b"1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange",
    b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap usecmap usecmap endcmap",
    b"beginbfchar " + b"<41> <42> " * 5000 + b"endbfchar",
    b"\xff\xfe garbage \x00\x01",
)


def surrogate_pdf() -> bytes:
    """A PDF whose body font's ToUnicode map turns the space into a lone surrogate (U+D800).

    pypdf extracts it as is, so the text holds characters no UTF-8 store can encode (fuzz case
    pdf_0019_fonts found it: the parse succeeded and the ingest then failed writing the catalog).
    """
    pdf = pdf_document(pages=1)
    cmap = pdf.add(PdfObj(b"", b"beginbfchar\n<20> <D800>\nendbfchar"))
    font = pdf.obj(3)
    font.body = font.body.replace(b">>", b"/ToUnicode %d 0 R >>" % cmap)
    return pdf.to_bytes()


def _pdf_fonts(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5)
    number = rng.choice((3, 4, 5))
    if rng.random() < 0.5:
        pdf.objects[number - 1] = PdfObj(rng.choice(_BAD_FONTS))
    else:
        cmap = pdf.add(PdfObj(b"", rng.choice(_BAD_CMAPS)))
        font = pdf.obj(number)
        font.body = font.body.replace(b">>", b"/ToUnicode %d 0 R >>" % cmap)
    return pdf.to_bytes()


_BAD_TRAILERS = (
    b"/Encrypt << /Filter /Standard /V 9 /R 9 /O (x) /U (y) /P -4 >>",
    b"/Encrypt << /Filter /NoSuchHandler /V 1 >>",
    b"/Encrypt << /Filter /Standard /V 4 /R 4 /CF << /StdCF << /CFM /AESV9 >> >> "
    b"/StmF /StdCF /StrF /StdCF /O (x) /U (y) /P -4 >>",
    b"/Encrypt 99 0 R",
    b"/Encrypt (yes)",
    b"/ID [<00>]",
    b"/Prev 99999999",
    b"/Prev -1 /XRefStm 5",
)


def _pdf_trailer(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5)
    pdf.trailer = rng.choice(_BAD_TRAILERS)
    return pdf.to_bytes()


_BAD_PAGE_ENTRIES = (
    (b"/MediaBox [0 0 612 792]", b"/MediaBox [(a) /b 0]"),
    (b"/MediaBox [0 0 612 792]", b"/MediaBox [0 0 0 0] /Rotate 45"),
    (b"/MediaBox [0 0 612 792]", b"/MediaBox [0 0 1e308 1e308] /Rotate 99999999999 /UserUnit 0"),
    (b"/Type /Page ", b"/Type /Page /Annots [<< /Subtype /FreeText /Contents 99 0 R >>] "),
    (b"/Resources << ", b"/Resources 99 0 R /X << "),
    (b"/Resources << /Font ", b"/Resources << /Font 7 /Junk "),
    (b"/Type /Page ", b"/Type /Page /Contents null "),
    (b"/Parent 2 0 R", b"/Parent null"),
)


def _pdf_page_tree(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5)
    kind = rng.randrange(3)
    if kind == 0:
        kids = b" ".join(b"%d 0 R" % k for k in pdf.pages)
        count = rng.choice((b"-1", b"0", b"99999999999", b"(two)", b"1.5"))
        extra = rng.choice((b"", b"null ", b"99 0 R ", b"(x) ", b"<< >> "))
        pdf.objects[1] = PdfObj(b"<< /Type /Pages /Kids [%s%s] /Count %s >>" % (extra, kids, count))
    elif kind == 1:
        pdf.objects[1] = PdfObj(
            rng.choice((b"<< /Type /Pages /Kids 3 0 R >>", b"<< /Type /Pages >>", b"null", b"[]"))
        )
    else:
        old, new = rng.choice(_BAD_PAGE_ENTRIES)
        _set_page(pdf, rng.randrange(len(pdf.pages)), old, new)
    if rng.random() < 0.2:
        pdf.objects[0] = PdfObj(rng.choice((b"<< /Type /Catalog >>", b"<< /Pages 6 0 R >>", b"(catalog)")))
    return pdf.to_bytes()


def _pdf_metadata(rng: random.Random) -> bytes:
    pdf = pdf_document(compress=rng.random() < 0.5)
    title = rng.choice(
        (
            b"<FEFFD800>",
            b"<FEFF00>",
            b"<FFFE4100>",
            b"(\\376\\377\\000)",
            b"<< /A 1 >>",
            b"[1 2 3]",
            b"99 0 R",
            b"/Name",
            b"(" + b"\\(" * 300 + b")",
            b"<" + b"F" * 10001 + b">",
            b"(\xff\xfe\xfd\x00\x01)",
        )
    )
    pdf.objects[5] = PdfObj(b"<< /Title %s /Author %s >>" % (title, title))
    return pdf.to_bytes()


def _pdf_object_stream(rng: random.Random) -> bytes:
    """An object stream (and a catalog inside it) with a wrong header, count or offsets."""
    pdf = pdf_document(compress=False)
    n = rng.choice((b"1", b"-1", b"99999", b"(n)"))
    first = rng.choice((b"0", b"7", b"-3", b"999999"))
    inner = b"1 0 << /Type /Catalog /Pages 2 0 R >>"
    ref = pdf.add(PdfObj(b"/Type /ObjStm /N %s /First %s" % (n, first), inner))
    pdf.objects[0] = PdfObj(b"<< /Type /Catalog /Pages 2 0 R /Extends %d 0 R >>" % ref)
    if rng.random() < 0.5:
        pdf.trailer = b"/XRefStm %d" % rng.randrange(1, 5000)
    return pdf.to_bytes()


PDF_TOKENS = (
    b"obj",
    b"endobj",
    b"stream\n",
    b"endstream",
    b"<<",
    b">>",
    b"[",
    b"]",
    b" 0 R",
    b"/Filter /FlateDecode",
    b"xref",
    b"trailer",
    b"startxref",
    b"%%EOF",
    b"(",
    b")",
    b"\\",
    b" Tj",
    b" TJ",
    b" Td",
    b" Tf",
    b" cm",
    b" BT",
    b" ET",
    b" q",
    b" Q",
    b"/Length 99999",
    b"-",
    b"9999999999",
)


def _pdf_bytes(fn: Callable[[random.Random, bytes], bytes]) -> Mutator:
    return lambda rng: fn(rng, seed_pdf_plain() if rng.random() < 0.7 else seed_pdf())


# --- Word documents ---------------------------------------------------------------------------------------


@cache
def seed_docx() -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.title = "Ashgrove Canal"
    d.add_heading("Ashgrove Canal", 1)
    d.add_paragraph(" ".join(PROSE[0:3]))
    d.add_heading("How to work a lock", 2)
    d.add_paragraph("Follow these steps:")
    d.add_paragraph("Close the bottom gates.", style="List Number")
    d.add_paragraph("Open the top paddles slowly.", style="List Number")
    d.add_paragraph(PROSE[3], style="List Bullet")
    table = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate((("Lock", "Rise"), ("Brindle Hill", "3.1 m"), ("Marrow", "2.4 m"))):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    d.add_paragraph(" ".join(PROSE[4:7]))
    d.add_paragraph(" ".join(PROSE[7:]))
    buf = io.BytesIO()
    d.save(buf)
    return rezip([(info.filename, data) for info, data in _members(buf.getvalue())])


def _members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def rezip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip of ``members``, the same bytes every time (no time stamps of today)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _docx_edit(edit: Callable[[random.Random, str, bytes], bytes | None], pick: str | None = None) -> Mutator:
    """Rewrite one member of the seed .docx (``pick``, or a random XML member); None deletes it."""

    def mutate(rng: random.Random) -> bytes:
        members = [(info.filename, data) for info, data in _members(seed_docx())]
        names = [n for n, _ in members if n.endswith((".xml", ".rels"))]
        target = pick if pick is not None else rng.choice(names)
        out = []
        for name, data in members:
            if name == target:
                new = edit(rng, name, data)
                if new is not None:
                    out.append((name, new))
            else:
                out.append((name, data))
        return rezip(out)

    return mutate


def _xml_corrupt(rng: random.Random, name: str, data: bytes) -> bytes | None:
    kind = rng.randrange(4)
    if kind == 0:
        return flip_bytes(rng, data)
    if kind == 1:
        return truncate(rng, data)
    if kind == 2:
        return insert_tokens(rng, data, DOCX_XML_TOKENS)
    return duplicate_slices(rng, data)


def _content_types(rng: random.Random, name: str, data: bytes) -> bytes | None:
    kind = rng.randrange(5)
    if kind == 0:
        return None
    if kind == 1:
        return b"this is not XML <<<"
    if kind == 2:  # the main document declared as something else
        return data.replace(b"document.main+xml", b"spreadsheetml.sheet.main+xml")
    if kind == 3:
        return data.replace(b'PartName="/word/document.xml"', b'PartName="/word/nothing.xml"')
    return (
        b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    )


_W_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _body(inner: bytes) -> bytes:
    head = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    return head + b"<w:document %s><w:body>%s</w:body></w:document>" % (_W_NS, inner)


def _para(text: str, props: bytes = b"") -> bytes:
    return b"<w:p>%s<w:r><w:t>%s</w:t></w:r></w:p>" % (props, text.encode())


def _docx_xml(rng: random.Random, name: str, data: bytes, kind: int | None = None) -> bytes | None:
    """document.xml replaced: deep nesting, entity bombs, odd tables, odd list numbering, odd styles.

    lxml refuses XML nested past 256 elements, so most depths stay under that to reach python-docx.
    """
    n = rng.choice((10, 40, 80, 120, 5000))
    prose = b"".join(_para(p) for p in PROSE[:4])
    kind = rng.randrange(9) if kind is None else kind
    if kind == 0:  # nested content controls
        return _body(b"<w:sdt><w:sdtContent>" * n + prose + b"</w:sdtContent></w:sdt>" * n)
    if kind == 1:  # tables in table cells
        n = min(n // 2, 600)
        return _body(b"<w:tbl><w:tr><w:tc>" * n + prose + b"</w:tc></w:tr></w:tbl>" * n + prose)
    if kind == 2:  # an entity expansion bomb
        ents = b"".join(
            b'<!ENTITY e%d "&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;">' % ((i + 1,) + (i,) * 10)
            for i in range(9)
        )
        return (
            b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY e0 "lol">'
            + ents
            + b"]>"
            + _body(_para("&e9;") + prose).split(b"?>", 1)[1]
        )
    if kind == 3:  # table cells spanning and merging impossibly
        span = rng.choice((b"0", b"-1", b"9999", b"abc", b"1.5", b""))
        merge = rng.choice(
            (b'<w:vMerge w:val="continue"/>', b"<w:vMerge/>", b'<w:vMerge w:val="bogus"/>', b"")
        )
        grid = rng.choice((b"", b"<w:tblGrid/>", b'<w:tblGrid><w:gridCol w:w="-5"/></w:tblGrid>'))
        cell = b'<w:tc><w:tcPr><w:gridSpan w:val="%s"/>%s</w:tcPr>%s</w:tc>' % (span, merge, _para(PROSE[5]))
        rows = b"<w:tr>%s%s</w:tr>" % (cell, b"<w:tc>" + _para("x") + b"</w:tc>") * rng.choice((1, 3))
        return _body(prose + b"<w:tbl>%s%s</w:tbl>" % (grid, rows) + b"<w:tbl></w:tbl><w:tbl><w:tr/></w:tbl>")
    if kind == 4:  # numbering properties with values python-docx rejects
        num = rng.choice((b"abc", b"-1", b"", b"99999999999999999999", b"1e9"))
        lvl = rng.choice((b"x", b"-3", b"", b"0", b"99"))
        props = b'<w:pPr><w:numPr><w:ilvl w:val="%s"/><w:numId w:val="%s"/></w:numPr></w:pPr>' % (lvl, num)
        return _body(b"".join(_para(p, props) for p in PROSE[:5]))
    if kind == 5:  # style references to nowhere, or odd
        style = rng.choice((b"NoSuchStyle", b"", b"Heading999999", b"Title", b"Heading-1", b"\xc3\xa9"))
        props = b'<w:pPr><w:pStyle w:val="%s"/></w:pPr>' % style
        return _body(b"".join(_para(p, props) for p in PROSE[:5]))
    if kind == 6:  # many tiny runs, many paragraphs, breaks and tabs
        runs = b"".join(b"<w:r><w:t>%s</w:t><w:br/><w:tab/></w:r>" % w.encode() for w in PROSE[0].split())
        return _body(b"<w:p>" + runs * min(n, 2000) + b"</w:p>" + prose)
    if kind == 7:  # alternate content and unknown elements wrapping the text
        return _body(b"<w:foo><w:bar>" + prose + b"</w:bar></w:foo><mc:AlternateContent/>" + prose)
    return _body(b"")  # a document with no text at all


def _docx_tables(rng: random.Random, name: str, data: bytes) -> bytes | None:
    """document.xml with tables whose cells span or merge impossibly (python-docx fails reading them)."""
    return _docx_xml(rng, name, data, kind=3)


def _rels(rng: random.Random, name: str, data: bytes) -> bytes | None:
    kind = rng.randrange(5)
    if kind == 0:
        return None
    if kind == 1:
        return data.replace(b'Target="', b'Target="../../../../etc/', 1)
    if kind == 2:
        return data.replace(b'Target="', b'TargetMode="External" Target="http://127.0.0.1:9/', 1)
    if kind == 3:
        return data.replace(b"Id=", b'Id="rId1" X=', 3)
    return data.replace(
        b"</Relationships>", b'<Relationship Id="rIdX" Type="x" Target="word/document.xml"/></Relationships>'
    )


def _docx_delete_document(rng: random.Random) -> bytes:
    victim = rng.choice(
        ("word/document.xml", "word/document.xml", "word/styles.xml", "_rels/.rels", "word/numbering.xml")
    )
    members = [(info.filename, data) for info, data in _members(seed_docx()) if info.filename != victim]
    return rezip(members)


@cache
def docx_bomb(megabytes: int) -> bytes:
    """A zip whose document.xml inflates to ``megabytes`` MB of paragraphs (about 1 MB packed per 300)."""
    head = b'<?xml version="1.0"?><w:document %s><w:body>' % _W_NS
    block = _para(PROSE[0]) * 6000
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [packer.compress(head)]
    size = len(head)
    crc = zlib.crc32(head)
    while size < megabytes << 20:
        parts.append(packer.compress(block))
        crc = zlib.crc32(block, crc)
        size += len(block)
    tail = b"</w:body></w:document>"
    parts += [packer.compress(tail), packer.flush()]
    crc = zlib.crc32(tail, crc)
    size += len(tail)
    compressed = b"".join(parts)
    # Written by hand: zipfile would compress the whole member in memory.
    others = [
        (n, d) for n, d in ((i.filename, d) for i, d in _members(seed_docx())) if n != "word/document.xml"
    ]
    return _zip_with_raw_member(others, "word/document.xml", compressed, size, crc)


def _zip_with_raw_member(
    others: list[tuple[str, bytes]], name: str, compressed: bytes, size: int, crc: int
) -> bytes:
    """A zip of ``others`` plus one member given already deflated (raw deflate, its size and CRC)."""
    body = rezip(others)
    cd_start = body.index(b"PK\x01\x02")
    end = body.index(b"PK\x05\x06")
    entries, central = body[:cd_start], body[cd_start:end]
    raw_name = name.encode()
    local_offset = len(entries)
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(compressed), size, len(raw_name), 0
    )
    member_central = struct.pack(
        "<4s6H3L5H2L",
        b"PK\x01\x02",
        20,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(compressed),
        size,
        len(raw_name),
        0,
        0,
        0,
        0,
        0,
        local_offset,
    )
    entries += local + raw_name + compressed
    central = central + member_central + raw_name
    count = central.count(b"PK\x01\x02")
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(entries), 0)
    # The other members' central records still point at their local headers: offsets are unchanged.
    return entries + central + eocd


def _patch_member(data: bytes, member: str, patch: Callable[[bytearray, int, int], None]) -> bytes:
    """Call ``patch(buf, local_header_offset, central_record_offset)`` for ``member`` of a zip."""
    out = bytearray(data)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        name_len, extra_len, comment_len = struct.unpack_from("<3H", out, pos + 28)
        name = bytes(out[pos + 46 : pos + 46 + name_len]).decode("utf-8", "replace")
        (local,) = struct.unpack_from("<L", out, pos + 42)
        if name == member:
            patch(out, local, pos)
            break
        pos = out.find(b"PK\x01\x02", pos + 46 + name_len + extra_len + comment_len)
    return bytes(out)


def _docx_zip_bomb(rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    bomb = docx_bomb(300)
    if kind == 0:  # honest: the archive says it unpacks to 300 MB
        return bomb
    if kind == 1:  # lying: the archive says the member is small

        def small(buf: bytearray, local: int, central: int) -> None:
            lie = rng.choice((100, 20_000, 5 << 20))
            struct.pack_into("<L", buf, local + 22, lie)
            struct.pack_into("<L", buf, central + 24, lie)

        return _patch_member(bomb, "word/document.xml", small)
    return _zero_bomb()  # a stream of zeros, not XML


@cache
def _zero_bomb() -> bytes:
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\0" * (1 << 20)
    compressed = b"".join([zeros.compress(block) for _ in range(250)] + [zeros.flush()])
    crc = 0
    for _ in range(250):
        crc = zlib.crc32(block, crc)
    others = [(i.filename, d) for i, d in _members(seed_docx()) if i.filename != "word/document.xml"]
    return _zip_with_raw_member(others, "word/document.xml", compressed, 250 << 20, crc)


def _docx_zip_fields(rng: random.Random) -> bytes:
    """Header fields python's zipfile trusts: compression method, encryption flag, CRC, sizes, names."""
    data = seed_docx()
    member = rng.choice(("word/document.xml", "word/styles.xml", "[Content_Types].xml", "_rels/.rels"))
    kind = rng.randrange(6)

    def patch(buf: bytearray, local: int, central: int) -> None:
        if kind == 0:  # a compression method zipfile can't unpack
            method = rng.choice((9, 99, 6, 14, 12, 93))
            struct.pack_into("<H", buf, local + 8, method)
            struct.pack_into("<H", buf, central + 10, method)
        elif kind == 1:  # "encrypted"
            struct.pack_into("<H", buf, local + 6, 1)
            struct.pack_into("<H", buf, central + 8, 1)
        elif kind == 2:  # wrong CRC
            struct.pack_into("<L", buf, local + 14, 0xDEADBEEF)
            struct.pack_into("<L", buf, central + 16, 0xDEADBEEF)
        elif kind == 3:  # compressed size beyond the end of the file
            struct.pack_into("<L", buf, local + 18, 0x7FFFFFFF)
            struct.pack_into("<L", buf, central + 20, 0x7FFFFFFF)
        elif kind == 4:  # local header offset pointing anywhere
            struct.pack_into("<L", buf, central + 42, rng.randrange(len(buf) + 100))
        else:  # a name with a NUL or a path that climbs out
            name_len = struct.unpack_from("<H", buf, central + 28)[0]
            buf[central + 46] = 0
            buf[local + 30 : local + 30 + min(3, name_len)] = b"../"[: min(3, name_len)]

    return _patch_member(data, member, patch)


def _docx_zip_structure(rng: random.Random) -> bytes:
    members = [(i.filename, d) for i, d in _members(seed_docx())]
    kind = rng.randrange(4)
    if kind == 0:  # the same name twice, the second one garbage
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rezip([*members, ("word/document.xml", b"<broken")])
    if kind == 1:  # many members
        return rezip(members + [(f"junk/{i}.xml", b"<a/>") for i in range(rng.choice((500, 12000)))])
    if kind == 2:  # a zip inside the zip as the document
        return rezip([(n, seed_docx() if n == "word/document.xml" else d) for n, d in members])
    return rezip([(n.upper(), d) for n, d in members])  # names in the wrong case


DOCX_XML_TOKENS = (
    b"<",
    b">",
    b"</w:p>",
    b"<w:p>",
    b"<w:tbl>",
    b"&",
    b"&#0;",
    b'"',
    b"<!DOCTYPE x [",
    b"\x00",
    b"]]>",
)


def _docx_bytes(fn: Callable[[random.Random, bytes], bytes]) -> Mutator:
    return lambda rng: fn(rng, seed_docx())


# --- the table of mutators --------------------------------------------------------------------------------
# Most important first: the fast tier runs the first eight of each format.

MUTATORS: dict[str, list[tuple[str, Mutator]]] = {
    "txt": [
        ("encoding", _mis_encoded),
        ("flip", _generic(seed_txt, flip_bytes)),
        ("controls", _control_chars),
        ("truncate", _generic(seed_txt, truncate)),
        ("odd", _odd_text),
        ("insert", _generic(seed_txt, insert_random)),
        ("duplicate", _generic(seed_txt, duplicate_slices)),
        ("tokens", _tokens(seed_txt, TXT_TOKENS)),
        ("encoding", _mis_encoded),
        ("delete", _generic(seed_txt, delete_slices)),
    ],
    "md": [
        ("nesting", _md_nesting),
        ("flip", _generic(seed_md, flip_bytes)),
        ("odd", _md_odd),
        ("tokens", _tokens(seed_md, MD_TOKENS)),
        ("nesting", _md_nesting),
        ("truncate", _generic(seed_md, truncate)),
        ("encoding", _reencoded(seed_md)),
        ("duplicate", _generic(seed_md, duplicate_slices)),
        ("nesting", _md_nesting),
        ("insert", _generic(seed_md, insert_random)),
        ("odd", _md_odd),
        ("delete", _generic(seed_md, delete_slices)),
    ],
    "rst": [
        ("nesting", _rst_nesting),
        ("flip", _generic(seed_rst, flip_bytes)),
        ("odd", _rst_odd),
        ("tokens", _tokens(seed_rst, RST_TOKENS)),
        ("nesting", _rst_nesting),
        ("truncate", _generic(seed_rst, truncate)),
        ("odd", _rst_odd),
        ("duplicate", _generic(seed_rst, duplicate_slices)),
        ("nesting", _rst_nesting),
        ("insert", _generic(seed_rst, insert_random)),
        ("encoding", _reencoded(seed_rst)),
        ("delete", _generic(seed_rst, delete_slices)),
    ],
    "html": [
        ("nesting", _html_nesting),
        ("flip", _generic(seed_html, flip_bytes)),
        ("odd", _html_odd),
        ("tokens", _tokens(seed_html, HTML_TOKENS)),
        ("nesting", _html_nesting),
        ("truncate", _generic(seed_html, truncate)),
        ("odd", _html_odd),
        ("duplicate", _generic(seed_html, duplicate_slices)),
        ("nesting", _html_nesting),
        ("insert", _generic(seed_html, insert_random)),
        ("encoding", _reencoded(seed_html)),
        ("delete", _generic(seed_html, delete_slices)),
    ],
    "pdf": [
        ("jbig2", _pdf_jbig2),
        ("filter", _pdf_wrong_filter),
        ("flate_cut", _pdf_truncated_flate),
        ("xref", _pdf_xref),
        ("length", _pdf_length_lie),
        ("flate_bomb", _pdf_flate_bomb),
        ("deep", _pdf_deep),
        ("flip", _pdf_bytes(flip_bytes)),
        ("cycles", _pdf_cycles),
        ("ops", _pdf_bad_ops),
        ("fonts", _pdf_fonts),
        ("trailer", _pdf_trailer),
        ("pages", _pdf_page_tree),
        ("metadata", _pdf_metadata),
        ("objstm", _pdf_object_stream),
        ("truncate", _pdf_bytes(truncate)),
        ("tokens", _pdf_bytes(lambda rng, d: insert_tokens(rng, d, PDF_TOKENS))),
        ("duplicate", _pdf_bytes(duplicate_slices)),
        ("ops", _pdf_bad_ops),
        ("fonts", _pdf_fonts),
        ("delete", _pdf_bytes(delete_slices)),
        ("insert", _pdf_bytes(insert_random)),
    ],
    "docx": [
        ("document_xml", _docx_edit(_xml_corrupt, "word/document.xml")),
        ("no_part", _docx_delete_document),
        ("content_types", _docx_edit(_content_types, "[Content_Types].xml")),
        ("zip_bomb", _docx_zip_bomb),
        ("tables", _docx_edit(_docx_tables, "word/document.xml")),
        ("zip_fields", _docx_zip_fields),
        ("rels", _docx_edit(_rels, "word/_rels/document.xml.rels")),
        ("flip", _docx_bytes(flip_bytes)),
        ("member_xml", _docx_edit(_xml_corrupt)),
        ("xml", _docx_edit(_docx_xml, "word/document.xml")),
        ("zip_structure", _docx_zip_structure),
        ("package_rels", _docx_edit(_rels, "_rels/.rels")),
        ("truncate", _docx_bytes(truncate)),
        ("xml", _docx_edit(_docx_xml, "word/document.xml")),
        ("numbering", _docx_edit(_xml_corrupt, "word/numbering.xml")),
        ("styles", _docx_edit(_xml_corrupt, "word/styles.xml")),
        ("zip_fields", _docx_zip_fields),
        ("insert", _docx_bytes(insert_random)),
    ],
}


def seed_document(fmt: str) -> bytes:
    """The unharmed seed document of a format."""
    return {
        "txt": seed_txt,
        "md": seed_md,
        "rst": seed_rst,
        "html": seed_html,
        "pdf": seed_pdf,
        "docx": seed_docx,
    }[fmt]()
