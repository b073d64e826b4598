"""Shared test settings.

Property-based tests draw a fixed pseudo-random set of examples (``derandomize``), so a
run on CI tries exactly the examples a developer's run tried.
"""

from hypothesis import settings

settings.register_profile("terrazzo", derandomize=True, deadline=None)
settings.load_profile("terrazzo")
