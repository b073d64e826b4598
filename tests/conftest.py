"""Shared test settings.

Property-based tests draw a fixed pseudo-random set of examples (``derandomize``), so a
run on CI tries exactly the examples a developer's run tried; change the examples by
running with ``--hypothesis-seed``.
"""

from hypothesis import settings

settings.register_profile("terrazzo", derandomize=True, deadline=None)
settings.load_profile("terrazzo")
