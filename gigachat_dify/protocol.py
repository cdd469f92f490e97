"""The limits of Dify's stdio protocol that every answer the plugin writes must respect.

dify_plugin 0.10.2 writes each LLM chunk and each ``TextEmbeddingResult`` as one JSON line; the
daemon's scanner stops at ``PLUGIN_RUNTIME_MAX_BUFFER_SIZE`` (5 MiB by default) and then kills the
plugin process with every session in flight on it. So no single answer may come near that size.
"""

from __future__ import annotations

#: The daemon's default line limit (internal/types/app/config.go, PLUGIN_RUNTIME_MAX_BUFFER_SIZE).
DAEMON_LINE_LIMIT = 5 * 1024 * 1024
#: Bytes of one line the plugin may fill with payload: the envelope ({"event":"session",
#: "session_id":..., "data":{"type":"stream","data":{...}}}) and JSON escaping need the rest.
LINE_BUDGET = DAEMON_LINE_LIMIT - 256 * 1024
