"""python -m emulator: serve the GigaChat emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from emulator import DEFAULT_KEY, DEFAULT_SCOPE, Emulator
from emulator.oauth import OAUTH_REQUESTS_PER_SECOND, TOKEN_SHAPES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="GigaChat API emulator (v1 and v2, two hosts)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each API response")
    parser.add_argument("--chunk-latency", type=float, default=0.0, help="seconds between stream chunks")
    parser.add_argument("--concurrency-cap", type=int, default=None, help="API requests in flight beyond this get 429")
    parser.add_argument("--tls-cert", help="certificate file (PEM): serve HTTPS")
    parser.add_argument("--tls-key", help="private key file (PEM) for --tls-cert")
    parser.add_argument("--tls-client-ca", help="CA file (PEM): verify client certificates when presented; "
                                                "a verified one authenticates API calls (mutual TLS)")
    parser.add_argument("--require-client-cert", action="store_true",
                        help="refuse TLS handshakes without a client certificate signed by --tls-client-ca")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                        help="accept this user on POST {base}/token (repeatable)")
    parser.add_argument("--oauth-shape", choices=TOKEN_SHAPES, default="access_token",
                        help='OAuth answer: "access_token" (expires_at in ms, documented) or "tok" (exp in seconds)')
    parser.add_argument("--oauth-rate-limit", type=int, default=OAUTH_REQUESTS_PER_SECOND,
                        help="token requests per second and client id (0: unlimited)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    if args.require_client_cert and not args.tls_client_ca:
        parser.error("--require-client-cert needs --tls-client-ca")

    users = dict(u.split(":", 1) for u in args.user if ":" in u)
    tls = (args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    emu = Emulator(users=users, tls=tls, host=args.host, port=args.port, oauth_shape=args.oauth_shape,
                   oauth_rate_limit=args.oauth_rate_limit or None, require_client_cert=args.require_client_cert)
    emu.faults.latency = args.latency
    emu.faults.chunk_latency = args.chunk_latency
    emu.faults.concurrency_cap = args.concurrency_cap
    emu.start()
    print("GigaChat emulator listening")
    print(f"  base_url:    {emu.base_url}  (as recorded on gigachat.devices.sberbank.ru)")
    print(f"               {emu.giga_base_url}  (as probed on api.giga.chat, Sep 2026)")
    print(f"  auth_url:    {emu.auth_url}")
    print(f"  credentials: {DEFAULT_KEY}  (scope {DEFAULT_SCOPE})")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
