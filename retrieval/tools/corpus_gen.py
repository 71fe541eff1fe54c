"""A deterministic generator of English prose documents (and questions about them) for benchmarks.

Why generated: a benchmark at 100,000 sentences needs a corpus that ships with the code, is the same on
every machine, and reads enough like prose that segmentation, embedding and BM25 do realistic work.
Sentences come from templates filled from word lists with a seeded ``random.Random``; each document has
a title line and 30-60 sentences in paragraphs. Some templates state a fact that a paired question asks
about, so query benchmarks have questions with a known answer sentence.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_FIRST = [
    "Amelia",
    "Benjamin",
    "Clara",
    "Daniel",
    "Elena",
    "Felix",
    "Grace",
    "Henry",
    "Isabel",
    "Jonas",
    "Katherine",
    "Leo",
    "Miriam",
    "Nathan",
    "Olivia",
    "Peter",
    "Quentin",
    "Rosa",
    "Samuel",
    "Teresa",
    "Ursula",
    "Victor",
    "Wendy",
    "Xavier",
    "Yasmin",
    "Zachary",
    "Hannah",
    "Oscar",
    "Lucia",
    "Martin",
]
_LAST = [
    "Abbott",
    "Barlow",
    "Castillo",
    "Dalton",
    "Eriksen",
    "Fontaine",
    "Garrison",
    "Hartley",
    "Iverson",
    "Jaworski",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinlan",
    "Rasmussen",
    "Salazar",
    "Thornton",
    "Underwood",
    "Valdez",
    "Whitaker",
    "Yamamoto",
    "Zielinski",
    "Brennan",
    "Carvalho",
    "Delacroix",
    "Ferreira",
    "Gallagher",
]
_CITIES = [
    "Lisbon",
    "Toronto",
    "Krakow",
    "Nairobi",
    "Osaka",
    "Valparaiso",
    "Tromso",
    "Adelaide",
    "Marseille",
    "Leipzig",
    "Bergen",
    "Porto",
    "Quito",
    "Tbilisi",
    "Hanoi",
    "Durban",
    "Seville",
    "Bologna",
    "Halifax",
    "Tucson",
    "Galway",
    "Aarhus",
    "Kyoto",
    "Cusco",
    "Zagreb",
    "Ghent",
    "Perth",
    "Lyon",
]
_FIELDS = [
    "astronomy",
    "botany",
    "chemistry",
    "geology",
    "linguistics",
    "medicine",
    "metallurgy",
    "navigation",
    "oceanography",
    "philosophy",
    "physics",
    "printing",
    "shipbuilding",
    "textiles",
    "agriculture",
    "architecture",
    "cartography",
    "economics",
    "engineering",
    "forestry",
    "hydrology",
    "mathematics",
    "meteorology",
    "mineralogy",
    "music",
    "optics",
    "pharmacy",
    "zoology",
]
_THINGS = [
    "bridge",
    "canal",
    "cathedral",
    "library",
    "observatory",
    "railway",
    "harbour",
    "museum",
    "university",
    "hospital",
    "theatre",
    "lighthouse",
    "aqueduct",
    "market",
    "school",
    "factory",
    "mill",
    "archive",
    "garden",
    "laboratory",
    "printing",
    "press",
    "dam",
    "tunnel",
]
_ADJ = [
    "ancient",
    "busy",
    "careful",
    "coastal",
    "distant",
    "early",
    "famous",
    "fragile",
    "gradual",
    "hidden",
    "large",
    "modest",
    "northern",
    "notable",
    "quiet",
    "rapid",
    "remote",
    "rural",
    "small",
    "southern",
    "steady",
    "sudden",
    "urban",
    "vast",
    "wealthy",
    "young",
    "western",
]
_ORG_KIND = [
    "Society",
    "Company",
    "Institute",
    "Guild",
    "Academy",
    "Foundation",
    "Council",
    "Trust",
    "Union",
    "Bank",
]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_FILLER = [
    "The {adj} town of {city} grew slowly around its {thing}, and travellers often stopped there on the way "
    "to the coast.",
    "Records from the period describe a {adj} community that depended on {field} for much of its income.",
    "Local accounts suggest that the {thing} was rebuilt several times after storms damaged its walls.",
    "Many residents of {city} worked in {field}, although farming remained common in the surrounding "
    "valleys.",
    "Historians still debate how much the {adj} economy of the region owed to trade along the river.",
    "During the winter months the roads to {city} were often closed, which kept the town {adj} and isolated.",
    "Visitors today can see the old {thing}, which has been restored and opened to the public.",
    "The study of {field} in {city} was shaped by a small circle of teachers and their students.",
    "Newspapers of the time reported the changes with a mixture of pride and concern.",
    "Over the following decades the population of {city} doubled as new industries arrived.",
    "Critics argued that the {adj} plans ignored the needs of families living near the {thing}.",
    "A later survey found that most of the original buildings had survived in good condition.",
    "The collection now held in the {thing} includes letters, maps and instruments from that era.",
    "Some of the earliest work in {field} was published in small pamphlets that are now rare.",
    "Although funding was uncertain, the project continued with help from {adj} merchants.",
]
# (fact sentence, question about it) pairs: the question's answer is in that sentence.
_FACTS = [
    ("{first} {last} founded the {city} {field} {org} in {year}.", "Who founded the {city} {field} {org}?"),
    (
        "The {thing} in {city} was completed in {month} {year} after {n} years of work.",
        "How many years did it take to complete the {thing} in {city}?",
    ),
    (
        "In {year}, {first} {last} became the first director of the {thing} in {city}.",
        "Who was the first director of the {thing} in {city}?",
    ),
    (
        "The {city} {org} had {big} members by the end of {year}.",
        "How many members did the {city} {org} have by the end of {year}?",
    ),
    (
        "{first} {last} taught {field} in {city} for {n} years before moving to {city2}.",
        "Where did {first} {last} move after teaching {field} in {city}?",
    ),
    (
        "The {adj} {thing} of {city} cost {big} pounds to build.",
        "How much did the {thing} of {city} cost to build?",
    ),
]


@dataclass(frozen=True, slots=True)
class GeneratedQuestion:
    """A question about the generated corpus and the sentence that answers it."""

    question: str
    doc_id: str
    answer_sentence: str


@dataclass(frozen=True, slots=True)
class GeneratedCorpus:
    """What :func:`write_corpus` wrote: where, how much, and questions with their answer sentences."""

    directory: Path
    documents: int
    sentences: int
    questions: list[GeneratedQuestion]


def _values(rng: random.Random) -> dict[str, str]:
    city, city2 = rng.sample(_CITIES, 2)
    return {
        "first": rng.choice(_FIRST),
        "last": rng.choice(_LAST),
        "city": city,
        "city2": city2,
        "field": rng.choice(_FIELDS),
        "thing": rng.choice(_THINGS),
        "adj": rng.choice(_ADJ),
        "org": rng.choice(_ORG_KIND),
        "month": rng.choice(_MONTHS),
        "year": str(rng.randint(1650, 1990)),
        "n": str(rng.randint(2, 40)),
        "big": f"{rng.randint(2, 900) * 1000 + rng.randint(0, 999):,}",
    }


def _document(rng: random.Random, n_sentences: int) -> tuple[str, list[str], list[tuple[str, str]]]:
    """Return a title, the sentences, and the (fact, question) pairs stated in them."""
    v = _values(rng)
    title = f"The {v['adj'].capitalize()} {v['thing'].capitalize()} of {v['city']}"
    sentences: list[str] = []
    facts: list[tuple[str, str]] = []
    for _ in range(n_sentences):
        local = {**v, **{k: val for k, val in _values(rng).items() if rng.random() < 0.5}}
        if rng.random() < 0.2:
            fact, question = rng.choice(_FACTS)
            sentence = fact.format(**local)
            facts.append((sentence, question.format(**local)))
        else:
            sentence = rng.choice(_FILLER).format(**local)
        sentences.append(sentence[0].upper() + sentence[1:])
    return title, sentences, facts


def documents(total_sentences: int, seed: int = 13) -> Iterator[tuple[str, str, list[tuple[str, str]]]]:
    """Yield ``(doc_id, text, facts)`` until ``total_sentences`` sentences are produced."""
    rng = random.Random(seed)
    made = 0
    i = 0
    while made < total_sentences:
        n = min(rng.randint(30, 60), total_sentences - made)
        title, sentences, facts = _document(rng, n)
        paragraphs: list[str] = []
        pos = 0
        while pos < len(sentences):
            size = rng.randint(3, 8)
            paragraphs.append(" ".join(sentences[pos : pos + size]))
            pos += size
        yield f"doc_{i:06d}", title + "\n\n" + "\n\n".join(paragraphs) + "\n", facts
        made += n
        i += 1


def write_corpus(
    directory: Path, total_sentences: int, *, seed: int = 13, max_questions: int = 200
) -> GeneratedCorpus:
    """Write the corpus as ``.txt`` files under ``directory`` (100 per sub-folder) and sample questions."""
    rng = random.Random(seed + 1)
    questions: list[GeneratedQuestion] = []
    seen_questions: set[str] = set()
    n_docs = 0
    for doc_id, text, facts in documents(total_sentences, seed):
        folder = directory / f"part_{n_docs // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        n_docs += 1
        for sentence, question in facts:
            if question in seen_questions:
                continue
            seen_questions.add(question)
            # Reservoir sampling keeps the questions spread over the whole corpus.
            if len(questions) < max_questions:
                questions.append(GeneratedQuestion(question, f"{folder.name}/{doc_id}", sentence))
            else:
                j = rng.randrange(len(seen_questions))
                if j < max_questions:
                    questions[j] = GeneratedQuestion(question, f"{folder.name}/{doc_id}", sentence)
    log.info("generated %d documents, %d sentences in %s", n_docs, total_sentences, directory)
    return GeneratedCorpus(directory, n_docs, total_sentences, questions)
