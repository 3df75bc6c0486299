"""elevins tests: unit, integration, contract and e2e tiers (see tests/conftest.py)."""

import os

# Processes that use gRPC here also start other processes (PostgreSQL as another OS user,
# services, seeds). gRPC's fork handlers can crash such a child between fork and exec, and we
# never fork to keep using gRPC in the child, so they are turned off before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
