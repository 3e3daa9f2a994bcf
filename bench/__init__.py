"""ChatKit's benchmark: ``python -m bench`` (``make bench``) measures what ChatKit adds to a model's answer.

Mock upstreams (bench.mock), a lean load client (bench.client), the scenarios
(bench.scenarios) and the report (bench.report). Results go to ``bench/results/``.
"""
