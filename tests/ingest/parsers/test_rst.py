from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.errors import DocumentError
from retrieval.ingest.parsers.rst import parse_rst

from .conftest import assert_exact, assert_nested_or_disjoint, rows

DOC = """.. currentmodule:: discord

Installing
==========

You can get the library from PyPI. Support for old versions
of Python is not provided.

.. versionadded:: 2.0
   Voice works too.

For the quick and dirty:

1. Go to your directory:

   .. code-block:: sh

       $ cd bot
       $ python3 -m venv env

2. Use :class:`Client` as usual.

Converters
----------

+-----------+--------------------+
| Class     | Converter          |
+===========+====================+
| :class:`M`| :class:`MConverter`|
+-----------+--------------------+

=====  =====
Name   Value
=====  =====
port   8080
=====  =====
"""


def test_rst_units_are_exact_and_typed():
    """Wrapped sentences keep their newline, steps and code come from the list, tables give rows."""
    doc = parse_rst(DOC)
    assert_exact(doc)
    assert rows(doc) == [
        ("sentence", "You can get the library from PyPI."),
        ("sentence", "Support for old versions\nof Python is not provided."),
        ("sentence", "Voice works too."),
        ("sentence", "For the quick and dirty:"),
        ("step", "Go to your directory:"),
        ("code", "$ cd bot\n       $ python3 -m venv env"),
        ("code", "$ cd bot"),
        ("code", "$ python3 -m venv env"),
        ("step", "Use :class:`Client` as usual."),
        ("table_row", "| :class:`M`| :class:`MConverter`|"),
        ("table_row", "port   8080"),
    ]
    assert doc.title == "Installing"


def test_rst_context_and_sections():
    """Steps carry their lead-in; rows carry their header row and the section path."""
    doc = parse_rst(DOC)
    step = next(u for u in doc.units if u.kind == "step")
    assert step.context == "For the quick and dirty:"
    grid, simple = [u for u in doc.units if u.kind == "table_row"]
    assert grid.context == "| Class     | Converter          |"
    assert simple.context == "Name   Value"
    assert grid.section == ("Installing", "Converters")


def test_unknown_directives_and_roles_are_silent(capsys):
    """Sphinx-only directives and roles neither raise nor print; their text is still read."""
    doc = parse_rst(".. autoclass:: Foo\n   :members:\n\n.. nosuchthing:: x\n\nSee :unknown:`y` here.\n")
    assert "See :unknown:`y` here." in [u.text for u in doc.units]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_deeply_nested_rst_is_a_document_error():
    """Lists nested 1,000 deep give a clear DocumentError, not a RecursionError."""
    text = "".join("  " * i + f"- item {i}\n\n" for i in range(1000))
    with pytest.raises(DocumentError, match="nested too deeply"):
        parse_rst(text)


_para = st.text(alphabet=st.sampled_from(list("ab .:`*\n")), min_size=1, max_size=40)
_block = st.one_of(
    _para,
    st.builds(lambda w: f"- {w}\n- two.\n", st.text("xyz .", min_size=1, max_size=12)),
    st.builds(lambda w: f"#. {w}\n#. Do it.\n", st.text("xyz .", min_size=1, max_size=12)),
    st.builds(lambda w: f"Code::\n\n    {w}\n", st.text("xyz =()", min_size=1, max_size=12)),
    st.builds(lambda w: f"{w}\n{'=' * max(len(w), 1)}\n", st.text("xyz", min_size=1, max_size=8)),
    st.builds(lambda w: f".. note:: {w}\n", st.text("xyz .", max_size=12)),
    st.just("=  =\na  b\n=  =\n"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_block, max_size=6).map("\n\n".join))
def test_rst_units_are_exact_slices(text):
    """For any reStructuredText, every unit is source[start:end], non-empty, and units never straddle."""
    doc = parse_rst(text)
    assert doc.text == text
    assert_exact(doc)
    assert_nested_or_disjoint(doc.units)


def test_an_rst_code_block_carries_the_sentence_that_introduces_it():
    """A literal block right after a paragraph gets its last sentence as context, like a list's lead-in."""
    doc = parse_rst("Sync\n====\n\nAdd it. Then sync the tree for each guild::\n\n    await tree.sync()\n")
    assert_exact(doc)
    [code] = [u for u in doc.units if u.kind == "code"]
    assert code.context == "Then sync the tree for each guild::"


def test_a_term_inside_a_list_item_is_an_item_that_introduces_its_nested_list():
    """ "- Most Union types." with an indented list under it (a definition list to docutils) is an item
    of the outer list, and the nested items carry it as their lead-in."""
    text = (
        "Following are not supported:\n\n"
        "- Variable arguments.\n"
        "- Most :class:`typing.Union` types.\n"
        "    - Unions of channel types are allowed\n"
        "    - Unions of user types are allowed\n"
    )
    doc = parse_rst(text)
    assert_exact(doc)
    assert [(u.kind, u.text, u.context) for u in doc.units] == [
        ("sentence", "Following are not supported:", None),
        ("list_item", "Variable arguments.", "Following are not supported:"),
        ("list_item", "Most :class:`typing.Union` types.", "Following are not supported:"),
        ("list_item", "Unions of channel types are allowed", "Most :class:`typing.Union` types."),
        ("list_item", "Unions of user types are allowed", "Most :class:`typing.Union` types."),
    ]
    assert len({u.block for u in doc.units[1:]}) == 1  # one list, cited whole


def test_numbered_steps_broken_by_a_directive_at_the_margin_go_on_as_one_series():
    """ "1." then a code-block at the margin then "2.": one series of steps, each with its command."""
    text = (
        "Installing\n==========\n\n1. Go to your directory:\n\n.. code-block:: sh\n\n    $ cd bot\n\n"
        "2. Make a venv:\n\n.. code-block:: sh\n\n    $ python3 -m venv env\n\n"
        "Next\n----\n\nSome text.\n\n.. code-block:: python\n\n    print(1)\n"
    )
    doc = parse_rst(text)
    assert_exact(doc)
    got = [(u.kind, u.text, u.context) for u in doc.units]
    assert got[:4] == [
        ("step", "Go to your directory:", None),
        ("code", "$ cd bot", "Go to your directory:"),
        ("step", "Make a venv:", None),
        ("code", "$ python3 -m venv env", "Make a venv:"),
    ]
    assert len({u.block for u in doc.units[:4]}) == 1
    last = doc.units[-1]
    assert last.text == "print(1)" and last.block != doc.units[0].block and last.context == "Some text."


def test_a_projects_own_directive_holding_code_is_code():
    """ ".. click:example::" over a snippet is code (its "# How to ..." comment is no sentence); one over
    prose, or holding directives of its own, is still read as reST."""
    text = (
        "Make an option required.\n\n"
        ".. click:example::\n\n"
        "    # How to make an option required\n"
        "    @click.command()\n"
        "    @click.option('--n', required=True, type=int)\n"
        "    def dots(n):\n"
        "        click.echo('.' * n)\n\n"
        ".. versionchanged:: 8.0\n\n"
        "    The value is always one of the choices.\n\n"
        ".. group-tab:: Bash\n\n"
        "    Add this to ``~/.bashrc``:\n\n"
        "    .. code-block:: bash\n\n"
        "        eval x\n"
    )
    doc = parse_rst(text)
    assert_exact(doc)
    kinds = {u.text: u.kind for u in doc.units}
    assert kinds["@click.option('--n', required=True, type=int)"] == "code"
    assert kinds["# How to make an option required"] == "code"
    assert kinds["The value is always one of the choices."] == "sentence"
    assert kinds["Add this to ``~/.bashrc``:"] == "sentence"
    assert kinds["eval x"] == "code"
