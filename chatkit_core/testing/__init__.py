"""Testing ChatKit and its plugins: fixtures, a fake upstream, the provider conformance suite.

Installed with ChatKit as a pytest plugin (entry point ``pytest11``), so its fixtures are
there in any project's tests: ``chatkit_app`` builds an in-process app from a config and
throwaway plugins. Import the rest from here.
"""

from chatkit_core.testing.conformance import ProviderConformance, Upstream
from chatkit_core.testing.upstream import FakeUpstream, Reply, Request, closed_port_url

__all__ = ["FakeUpstream", "ProviderConformance", "Reply", "Request", "Upstream", "closed_port_url"]
