"""approach-gateway: an SMTP proxy that flags covert inbound approaches.

The public API: `load_config`, `Runtime` (gateway.runtime), `Gateway`, and the value types in `gateway.model`.
"""

from __future__ import annotations

__version__ = "0.1.0"
