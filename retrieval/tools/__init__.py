"""Tooling around the core: evaluation on QA sets, fitting the ranker, benchmarks, a test-corpus generator.

None of it runs when answering; ``pip install citebot[tools]`` brings what fitting needs (scipy).
"""
