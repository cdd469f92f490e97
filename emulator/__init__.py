"""Development-only GigaChat API emulator (v1 and v2, two hosts' dialects): a real HTTP server on loopback that the real
`gigachat` SDK talks to, faithful to the recorded API, with fault injection for tests.

    from emulator import Emulator, DEFAULT_KEY
    with Emulator() as emu:
        GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=DEFAULT_KEY, ...)
"""

from emulator.core import Emulator
from emulator.dialects import GIGA_CHAT, RECORDED
from emulator.oauth import B2B_KEY, CORP_KEY, DEFAULT_KEY, DEFAULT_KEYS, DEFAULT_SCOPE, PAID_KEY, make_key
from emulator.tokens import count_tokens

__all__ = [
    "B2B_KEY",
    "CORP_KEY",
    "DEFAULT_KEY",
    "DEFAULT_KEYS",
    "DEFAULT_SCOPE",
    "Emulator",
    "GIGA_CHAT",
    "PAID_KEY",
    "RECORDED",
    "count_tokens",
    "make_key",
]
