"""Write small PDFs by hand, so tests need no PDF library.

Plain pages are Helvetica text, one line per string. Laid-out pages place each line where a browser
or word processor would: in a font (Helvetica, Helvetica-Bold or Courier), at a size, an indent and a
gap below the line above, and a line may hold several cells (a table row).
"""

from __future__ import annotations

from dataclasses import dataclass

FONTS = {"Helvetica": "F1", "Helvetica-Bold": "F2", "Courier": "F3"}


@dataclass(frozen=True)
class Placed:
    """A line drawn at ``x`` in ``font`` at ``size``, ``gap`` points below the line above.

    ``cells`` (x, text) are drawn after ``text`` on the same baseline: a table row's later cells.
    """

    text: str
    font: str = "Helvetica"
    size: float = 11
    x: float = 72
    gap: float = 14
    cells: tuple[tuple[float, str], ...] = ()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _placed_ops(lines: list[Placed]) -> list[str]:
    ops = []
    y = 760.0
    for line in lines:
        y -= line.gap
        for x, text in ((line.x, line.text), *line.cells):
            ops.append(f"BT /{FONTS[line.font]} {line.size} Tf {x} {y} Td ({_escape(text)}) Tj ET")
    return ops


def make_pdf(
    pages: list[list[str]] | list[list[Placed]], *, text_layer: bool = True, prefix: str = ""
) -> bytes:
    """Return a PDF whose page ``i`` shows ``pages[i]`` top to bottom (strings: one line each).

    ``prefix`` goes at the start of every page's content (a transformation matrix, say).
    """
    objects: list[bytes] = []
    kids = []
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # pages tree, filled below
    font_ids = {}
    for base, name in FONTS.items():
        objects.append(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % base.encode()
        )
        font_ids[name] = len(objects)
    resources = b" ".join(b"/%s %d 0 R" % (name.encode(), number) for name, number in font_ids.items())
    for lines in pages:
        if not text_layer:
            ops = ["0 0 1 rg", "72 600 200 100 re f"]  # a drawing, no text
        elif lines and isinstance(lines[0], Placed):
            ops = _placed_ops([x for x in lines if isinstance(x, Placed)])
        else:
            ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
            for line in lines:
                ops.append(f"({_escape(str(line))}) Tj T*")
            ops.append("ET")
        stream = "\n".join([prefix, *ops] if prefix else ops).encode("cp1252")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << %s >> >> >>" % (content_id, resources)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
