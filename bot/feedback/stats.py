"""Usage: how much the bot is asked, how often it refuses, how fast it answers, and what it cites.

Computed from the answer log for ``citebot stats --usage`` and ``/stats``. The questions refused most
often are the useful part: they are what the documents don't answer yet.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .store import FeedbackStore

#: Days of answers a report covers by default.
DAYS = 14


@dataclass(frozen=True, slots=True)
class Usage:
    """What a usage report shows.

    Attributes:
        days: how many days back it covers.
        questions: answers given in that time.
        per_day: answers by UTC day (``YYYY-MM-DD``), oldest first, days without questions left out.
        refusal_rate: the share of them that were refusals (0 when there were none).
        median_latency: seconds from question to answer, median (None without answers).
        p95_latency: the same, 95th percentile (nearest rank).
        top_documents: the most-cited documents as ``(source, citations)``, most first.
        top_refused: the questions refused most often as ``(question, times)``, most first.
    """

    days: int
    questions: int
    per_day: list[tuple[str, int]]
    refusal_rate: float
    median_latency: float | None
    p95_latency: float | None
    top_documents: list[tuple[str, int]]
    top_refused: list[tuple[str, int]]

    def to_json_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return asdict(self)


def usage(
    store: FeedbackStore,
    *,
    guild_id: int | None = None,
    days: int = DAYS,
    top: int = 5,
    now: float | None = None,
) -> Usage:
    """Summarise the answers of the last ``days`` days, one server's (``guild_id``) or every one's."""
    since = (now if now is not None else time.time()) - days * 86400
    answers = store.answers_since(since, guild_id)
    per_day = Counter(datetime.fromtimestamp(a.created, UTC).strftime("%Y-%m-%d") for a in answers)
    latencies = sorted(a.latency for a in answers)
    cited = Counter(c.source for a in answers for c in {c.source: c for c in a.cited}.values())
    refused = Counter(" ".join(a.question.split()).casefold() for a in answers if a.refused)
    wording = {" ".join(a.question.split()).casefold(): a.question for a in answers if a.refused}
    return Usage(
        days=days,
        questions=len(answers),
        per_day=sorted(per_day.items()),
        refusal_rate=sum(a.refused for a in answers) / len(answers) if answers else 0.0,
        median_latency=statistics.median(latencies) if latencies else None,
        p95_latency=latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else None,
        top_documents=cited.most_common(top),
        top_refused=[(wording[q], n) for q, n in refused.most_common(top)],
    )


def usage_lines(report: Usage) -> list[str]:
    """The report as plain lines (the command line's output)."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    lines = [
        f"questions (last {report.days} days)  {report.questions}",
        f"refusal rate                {report.refusal_rate:.0%}",
        f"latency median / p95        {seconds(report.median_latency)} / {seconds(report.p95_latency)}",
        "questions a day:",
        *([f"  {day}  {n}" for day, n in report.per_day] or ["  (none)"]),
        "most-cited documents:",
        *([f"  {n:5}  {source}" for source, n in report.top_documents] or ["  (none)"]),
        "refused most often:",
        *([f"  {n:5}  {q}" for q, n in report.top_refused] or ["  (none)"]),
    ]
    return lines
