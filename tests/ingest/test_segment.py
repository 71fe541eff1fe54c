from retrieval.ingest.segment import is_prose, segment
from tests.conftest import SEED_FILE

FURNITURE = ["World", "Published", "on", "Advertisement", "Trending", "Exit mobile version"]


def test_every_sentence_is_a_verbatim_slice():
    """Each sentence's text equals the document text between its offsets."""
    text = SEED_FILE.read_text(encoding="utf-8")
    seg = segment(text)
    assert len(seg.sentences) > 10
    for s in seg.sentences:
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip()


def test_page_furniture_is_not_a_sentence():
    """Lines such as "Advertisement" or "Exit mobile version" never become citable sentences."""
    seg = segment(SEED_FILE.read_text(encoding="utf-8"))
    texts = {s.text for s in seg.sentences}
    for label in FURNITURE:
        assert label not in texts
        assert not any(t.startswith(label + "\n") or t.endswith("\n" + label) for t in texts)


def test_headline_becomes_the_title():
    """The seed's headline is its title, not a cited sentence."""
    seg = segment(SEED_FILE.read_text(encoding="utf-8"))
    assert seg.title is not None and seg.title.startswith("North Korean Troops Would Be")
    assert all(not s.text.startswith("North Korean Troops Would Be") for s in seg.sentences)


def test_sentences_are_split_and_ordered():
    """pysbd boundaries: abbreviations don't split, offsets increase."""
    text = "Dr. Smith arrived at 5 p.m. on Monday. He left early.\n\nThe U.S. team won 3.5 points! Really?"
    seg = segment(text)
    assert [s.text for s in seg.sentences] == [
        "Dr. Smith arrived at 5 p.m. on Monday.",
        "He left early.",
        "The U.S. team won 3.5 points!",
        "Really?",
    ]
    assert [s.idx for s in seg.sentences] == [0, 1, 2, 3]


def test_long_sentences_are_cut_at_whitespace():
    """A wall of text without punctuation is cut into citable pieces no longer than the limit."""
    text = " ".join(f"word{i}" for i in range(2000))
    seg = segment(text, max_sentence_chars=300)
    assert len(seg.sentences) > 10
    assert all(len(s.text) <= 300 for s in seg.sentences)
    for s in seg.sentences:
        assert text[s.start : s.end] == s.text


def test_prose_detection():
    """Short labels and headings are furniture; sentences and long paragraphs are prose."""
    assert not is_prose("Advertisement")
    assert not is_prose("# A heading of several words here.")
    assert not is_prose("North Korean Troops Would Be a ‘Legitimate Target’ in War, Says US")
    assert is_prose("He left early, as he said he would.")
    assert is_prose(" ".join(["word"] * 30))


def test_a_dot_inside_inline_code_or_a_role_never_ends_a_sentence():
    """ "`.env`" and ":exc:`.BadArgument`" hold dots that pysbd took for sentence ends."""
    text = (
        "Copy the `.env.example` file to `.env` and fill it in. Then run it.\n\n"
        "If a converter fails, the :exc:`.BadArgument` exception must be raised. Use ``ctx.send`` then.\n\n"
        "Read [the tutorial](tutorial.md){.internal-link target=_blank}. It helps.\n\n"
        "`Check the background_task.py example. <https://example.org/background_task.py>`_ It runs."
    )
    got = [s.text for s in segment(text).sentences]
    assert got == [
        "Copy the `.env.example` file to `.env` and fill it in.",
        "Then run it.",
        "If a converter fails, the :exc:`.BadArgument` exception must be raised.",
        "Use ``ctx.send`` then.",
        "Read [the tutorial](tutorial.md){.internal-link target=_blank}.",
        "It helps.",
        "`Check the background_task.py example. <https://example.org/background_task.py>`_ It runs.",
    ]
    assert all(text[s.start : s.end] == s.text for s in segment(text).sentences)


def test_a_stray_backtick_does_not_join_sentences():
    """Only a cut with no space after it (inside the code) is mended; a real sentence end stays one."""
    text = (
        "The key is 5` long. This is unrelated. Use `x` here.\n\nRun `make' first. Then run `make install'."
    )
    assert [s.text for s in segment(text).sentences] == [
        "The key is 5` long.",
        "This is unrelated.",
        "Use `x` here.",
        "Run `make' first.",
        "Then run `make install'.",
    ]
