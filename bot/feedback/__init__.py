"""Answers kept, and what people say about them: the context view, votes, the export and usage reports.

``store`` keeps every posted answer and its votes in SQLite beside the index; ``views`` are the
components under an answer (they survive restarts); ``context`` renders a cited unit in its passage;
``export`` writes voted answers as an eval set; ``stats`` summarises usage. Importing this package opens
nothing.
"""
