"""The main job: what Dify would show when it drives this plugin.

Starts the plugin exactly as the Dify plugin daemon does (a subprocess speaking the stdio
protocol), then validates credentials, streams a chat answer and embeds a few texts.
By default it talks to the bundled GigaChat emulator on loopback; with a real authorization key
in GIGACHAT_AUTHORIZATION_KEY (and optionally GIGACHAT_SCOPE, GIGACHAT_CA_FILE) it talks to real
GigaChat instead.
"""

from __future__ import annotations

import math
import os
import sys
import time

from tests.support.daemon import PluginProcess, system, user


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    real_key = os.environ.get("GIGACHAT_DEMO_KEY")
    emu = None
    if real_key:
        credentials = {"authorization_key": real_key, "scope": os.environ.get("GIGACHAT_DEMO_SCOPE") or "GIGACHAT_API_PERS"}
        ca_file = os.environ.get("GIGACHAT_DEMO_CA")
        if ca_file:
            with open(ca_file) as fh:
                credentials["ca_certificate"] = fh.read()
        say("Target: real GigaChat (key from GIGACHAT_AUTHORIZATION_KEY)")
    else:
        from emulator import DEFAULT_KEY, Emulator

        emu = Emulator()
        emu.faults.chunk_latency = 0.05  # make streaming visible
        emu.start()
        credentials = {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS",
                       "base_url": emu.base_url, "auth_url": emu.auth_url}
        say(f"Target: bundled GigaChat emulator at {emu.base_url}")
        say("        (set GIGACHAT_AUTHORIZATION_KEY to use real GigaChat)")

    plugin = PluginProcess()
    failures = 0
    try:
        t0 = time.monotonic()
        plugin.start()
        say(f"\nPlugin started as Dify's daemon starts it; first heartbeat after {plugin.ready_after:.2f}s")

        say("\n1. Settings -> Model Provider -> GigaChat -> Save (validate credentials)")
        res = plugin.validate_provider(credentials)
        if res.ok:
            say("   OK: credentials are valid")
        else:
            failures += 1
            say(f"   {res.error_type}: {res.error_message}")

        say("\n2. Chat app, streaming answer from GigaChat-2-Max:")
        sys.stdout.write("   ")
        res = plugin.invoke_llm(
            "GigaChat-2-Max", credentials,
            [system("You are a concise assistant."), user("Расскажи в двух предложениях, что такое Dify.")],
            model_parameters={"temperature": 0.7, "max_tokens": 200}, stream=True,
            on_chunk=lambda c: (sys.stdout.write(c["delta"]["message"]["content"]), sys.stdout.flush()),
        )
        say("")
        if res.ok:
            last = res.chunks[-1]["delta"]
            usage = last.get("usage") or {}
            say(f"   finish_reason={last.get('finish_reason')}  chunks={len(res.chunks)}  "
                f"prompt_tokens={usage.get('prompt_tokens')}  completion_tokens={usage.get('completion_tokens')}")
        else:
            failures += 1
            say(f"   {res.error_type}: {res.error_message}")

        say("\n3. Knowledge base: embedding three chunks with Embeddings:")
        texts = ["GigaChat is a large language model by Sber.", "Dify is an LLM application platform.",
                 "Борщ — суп из свёклы."]
        res = plugin.invoke_embedding("Embeddings", credentials, texts)
        if res.ok:
            vectors = res.chunks[-1]["embeddings"]
            usage = res.chunks[-1]["usage"]
            say(f"   {len(vectors)} vectors of {len(vectors[0])} dimensions, {usage['tokens']} tokens")
            for i, t in enumerate(texts):
                norm = math.sqrt(sum(x * x for x in vectors[i]))
                say(f"   [{i}] |v|={norm:.3f}  {t}")
        else:
            failures += 1
            say(f"   {res.error_type}: {res.error_message}")

        if emu is not None:
            say(f"\nEmulator saw {emu.stats.oauth_calls} OAuth call(s) for all of the above "
                f"(one token per credentials, reused).")
        say(f"\nDone in {time.monotonic() - t0:.1f}s; {'all steps succeeded' if not failures else f'{failures} step(s) failed'}.")
        return 1 if failures else 0
    finally:
        plugin.stop()
        if emu is not None:
            emu.stop()


if __name__ == "__main__":
    sys.exit(main())
