"""`approach-gateway serve` with part of the analysis left out, to split serve's CPU per message
(serve_bench.py `--gateway-variant`; one worker process only):

    nochecks  no check runs (the runtime's check list is empty): what is left is the serve path
              itself -- SMTP both ways, parse, policy evaluation with no signals, header edits,
              Received, the store's record, logging, metrics
    offline   the runtime is offline (as `scan` and scan_bench.py analyse): every check but
              authentication (SPF, DKIM, DMARC, ARC) and the network reputation lookups

Never a way to run a gateway: the verdicts of both are meaningless.

    python benchmarks/serve_variant.py nochecks serve --config gateway.yml --workers 1
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gateway.runtime as runtime
from gateway.cli import main

VARIANTS = ("nochecks", "offline")


def patch(variant: str) -> None:
    real = runtime.Runtime.__init__

    def init(self: runtime.Runtime, *args: Any, **kwargs: Any) -> None:
        if variant == "offline":
            kwargs["offline"] = True
        real(self, *args, **kwargs)
        if variant == "nochecks":
            self.checks = []
    runtime.Runtime.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: serve_variant.py {{{','.join(VARIANTS)}}} serve --config FILE")
    patch(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
