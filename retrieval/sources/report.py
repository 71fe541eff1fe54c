"""What a web sync did: kept apart from the fetching code so front ends can name it without loading httpx."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ingest.pipeline import IngestReport


@dataclass
class WebReport:
    """What a web sync did.

    Attributes:
        ingest: the pipeline's report over the pages kept (sources are URLs).
        pages: the pages reached this time, in the order they were reached.
        not_modified: how many of them the server said were unchanged (304).
        gone: pages removed because the server said they are gone (404, 410).
        failed: pages that could not be fetched this time, with the reason (their last copy stays).
        blocked: pages robots.txt asks crawlers to leave alone.
        requests: HTTP requests sent.
    """

    ingest: IngestReport = field(default_factory=IngestReport)
    pages: list[str] = field(default_factory=list)
    not_modified: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    requests: int = 0

    def summary(self) -> str:
        """One line for people: pages reached, what changed, what was skipped."""
        r = self.ingest
        return (
            f"{len(self.pages)} page(s): {len(r.added)} added, {len(r.updated)} updated, "
            f"{len(r.unchanged)} unchanged ({self.not_modified} not modified), {len(self.gone)} gone, "
            f"{len(self.failed) + len(r.skipped)} skipped, {len(self.blocked)} blocked by robots.txt; "
            f"{r.sentences_embedded} sentences embedded in {r.seconds:.1f} s"
        )
