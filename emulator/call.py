"""One API request as the endpoints see it (`Call`), and reading its JSON body."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from emulator.dialects import INVALID_JSON, BasePath, Dialect
from emulator.errors import ApiError
from emulator.state import Account, RecordedRequest
from emulator.wire import Headers, Request


@dataclass
class Call:
    """One request as the endpoints see it: the transport's request, where it came and from whom."""

    request: Request
    record: RecordedRequest
    rel: str  # the path relative to its base path's v1 root ("/chat/completions"), else the raw path
    base: BasePath | None = None  # the base path (host) it came to
    dialect: Dialect | None = None  # how that host speaks
    account: Account | None = None  # set while it counts against its account's concurrency
    in_flight: bool = False

    @property
    def body(self) -> bytes:
        return self.request.body

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def plan(self) -> str | None:
        return self.account.plan if self.account is not None else None

    def x_headers(self) -> dict[str, str]:
        # Echo the caller's ids, else make new ones (the real API always answers with both).
        return {
            "X-Request-Id": self.headers.get("X-Request-ID") or str(uuid.uuid4()),
            "X-Session-Id": self.headers.get("X-Session-ID") or str(uuid.uuid4()),
        }


def read_json(call: Call) -> Any:
    try:
        return json.loads(call.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, INVALID_JSON) from None


def model_request(call: Call) -> Any:
    """The JSON body of a request naming a model; a model this account's plan does not get is no
    model at all (dialects.Dialect.check_model)."""
    body = read_json(call)
    if isinstance(body, dict):
        call.dialect.check_model(body.get("model"), call.plan)
    return body
