"""The main job: what Dify would show when it drives this plugin (run it with `bash scripts/demo.sh`).

Starts the plugin exactly as the Dify plugin daemon does (a subprocess speaking the stdio
protocol), then: saves the provider credentials (validation), streams a chat answer, asks a
question with GigaChat's web search (an answer linking its sources), has GigaChat draw an image
(saved to a file), and embeds a few texts for a knowledge base.

Where it talks to: with no key set, to the bundled GigaChat emulator on loopback (every answer
then comes from the emulator, not from GigaChat; nothing is spent). With GIGACHAT_AUTHORIZATION_KEY
(and GIGACHAT_SCOPE, GIGACHAT_CA_FILE, optionally GIGACHAT_BASE_URL and GIGACHAT_AUTH_URL, the
OAuth URL) set, to that GigaChat: it prints the tokens each step would spend and sends nothing
unless --yes is given. scripts/demo.sh passes the settings on as GIGACHAT_DEMO_* (scripts/env.sh
clears GIGACHAT_* so the SDK cannot read them behind the plugin's back). A proxy is taken from the
environment as in Dify (HTTPS_PROXY, NO_PROXY); the emulator on loopback is always reached directly.

    bash scripts/demo.sh [--yes] [--out DIR]  # DIR: where generated images are saved (default demo-out/)
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import sys
import time
from pathlib import Path

from gigachat_dify.tokens import estimate_tokens
from tests.support.daemon import PluginProcess, ProtocolError, system, user

ROOT = Path(__file__).resolve().parent
CHAT_MODEL = "GigaChat-2-Max"  # declares web search and image generation (models/llm/GigaChat-2-Max.yaml)
EMBEDDING_MODEL = "Embeddings"
EXIT_FAILED = 1
EXIT_SETUP = 2  # not started: a setting to change, or a real account's spending not confirmed (--yes)

# The settings of a real account: the variable scripts/real_account.sh hands on -> the one the user sets.
ACCOUNT_VARIABLES = {
    "GIGACHAT_DEMO_KEY": "GIGACHAT_AUTHORIZATION_KEY",
    "GIGACHAT_DEMO_SCOPE": "GIGACHAT_SCOPE",
    "GIGACHAT_DEMO_CA": "GIGACHAT_CA_FILE",
    "GIGACHAT_DEMO_BASE_URL": "GIGACHAT_BASE_URL",
    "GIGACHAT_DEMO_AUTH_URL": "GIGACHAT_AUTH_URL",
}

# What the steps send: the estimates shown before a real account is used are computed from these.
CHAT_MESSAGES = [system("You are a concise assistant."), user("Расскажи в двух предложениях, что такое Dify.")]
CHAT_MAX_TOKENS = 200
SEARCH_QUESTION = "Что нового в Python 3.13?"
IMAGE_REQUEST = "Нарисуй кота в шапке-ушанке"
EMBED_TEXTS = ["GigaChat is a large language model by Sber.", "Dify is an LLM application platform.",
               "Борщ — суп из свёклы."]
# Built-in tools cost far more than their question: figures of the recorded real requests
# (gigachat-recordings, test_primary_chat_builtin_tools.yaml), rounded up.
RECORDED_WEB_SEARCH_TOKENS = 24_337  # the found pages are billed as prompt tokens
RECORDED_IMAGE_TOKENS = 1_041
MESSAGE_OVERHEAD_TOKENS = 20  # roles and formatting GigaChat counts besides the text


def token_plan() -> list[tuple[str, int, str]]:
    """(step, estimated tokens, why) for each step of the demo on a real account."""
    chat_prompt = sum(estimate_tokens(m["content"]) for m in CHAT_MESSAGES) + MESSAGE_OVERHEAD_TOKENS
    return [
        ("1. validation", 0, "an OAuth token and the model list"),
        ("2. chat", chat_prompt + CHAT_MAX_TOKENS, f"at most, {CHAT_MAX_TOKENS} of them the answer"),
        ("3. web search", _round_up(RECORDED_WEB_SEARCH_TOKENS),
         f"about: GigaChat adds the pages it found to the prompt (a recorded search: {RECORDED_WEB_SEARCH_TOKENS:,})"),
        ("4. image generation", _round_up(RECORDED_IMAGE_TOKENS), f"about (a recorded one: {RECORDED_IMAGE_TOKENS:,})"),
        ("5. embeddings", sum(estimate_tokens(t) for t in EMBED_TEXTS), f"{len(EMBED_TEXTS)} short texts"),
    ]


def _round_up(tokens: int, to: int = 100) -> int:
    return -(-tokens // to) * to


class SetupError(Exception):
    """The demo cannot start as configured; the message says what to change."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def read_ca_file(path: str) -> str:
    """The PEM text of GIGACHAT_CA_FILE, or a SetupError that says what is wrong with the file."""
    where = f"GIGACHAT_CA_FILE={path}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SetupError(f"{where}: no such file. Point it at the Russian Trusted Root CA's PEM file "
                         "(README, 'The Russian Trusted Root CA'), or unset it.") from None
    except OSError as exc:
        raise SetupError(f"{where} cannot be read ({exc.strerror}). Give the path of a readable PEM file.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SetupError(f"{where} is a binary (DER) certificate, not PEM. Convert it first: "
                         f"openssl x509 -inform der -in {path} -out russian_trusted_root_ca.pem") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise SetupError(f"{where} holds no PEM certificate (no '-----BEGIN CERTIFICATE-----' line): "
                         "give the CA certificate's PEM file.")
    return text


def say_token_plan(confirmed: bool) -> None:
    plan = token_plan()
    say("This demo spends tokens of that account (estimates):")
    for step, tokens, why in plan:
        say(f"   {step:<20} {'free' if not tokens else f'~{tokens:,} tokens':>15}   {why}")
    say(f"   {'in all':<20} {f'~{sum(t for _, t, _ in plan):,} tokens':>15}")
    if not confirmed:
        say("Nothing was sent. Re-run with --yes to spend them: bash scripts/demo.sh --yes")


def say_unused_account_settings(env: dict) -> None:
    """Without a key the demo runs on the emulator: say which real-account settings it leaves unused."""
    unused = [ACCOUNT_VARIABLES[v] + (" (checked: a PEM certificate)" if v == "GIGACHAT_DEMO_CA" else "")
              for v in ACCOUNT_VARIABLES if v != "GIGACHAT_DEMO_KEY" and env.get(v)]
    if unused:
        say(f"Not used without GIGACHAT_AUTHORIZATION_KEY: {', '.join(unused)}.")


def loopback_no_proxy(env: dict) -> dict:
    """NO_PROXY for the plugin when it talks to the emulator on loopback: a proxy of the shell
    (HTTP_PROXY, HTTPS_PROXY) cannot reach this machine's 127.0.0.1."""
    current = env.get("no_proxy") or env.get("NO_PROXY") or ""
    value = ",".join(filter(None, [current, "127.0.0.1", "localhost"]))
    return {"NO_PROXY": value, "no_proxy": value}  # lower case wins where both are set


def real_credentials(env: dict) -> dict:
    credentials = {"authorization_key": env["GIGACHAT_DEMO_KEY"],
                   "scope": env.get("GIGACHAT_DEMO_SCOPE") or "GIGACHAT_API_PERS"}
    for field, var in (("base_url", "GIGACHAT_DEMO_BASE_URL"), ("auth_url", "GIGACHAT_DEMO_AUTH_URL")):
        if env.get(var):
            credentials[field] = env[var]
    return credentials


def show_error(result) -> None:
    say(f"   {result.error_type}: {result.error_message}")


def text_and_images(chunks: list[dict]) -> tuple[str, list[dict]]:
    """An answer's text and its image content items (a chunk's content is a string or a list)."""
    text, images = [], []
    for chunk in chunks:
        content = chunk["delta"]["message"]["content"]
        if isinstance(content, str):
            text.append(content)
            continue
        for item in content:
            if item["type"] == "image":
                images.append(item)
            elif item["type"] == "text":
                text.append(item["data"])
    return "".join(text), images


def indented(text: str) -> str:
    return "\n".join("   " + line if line else "" for line in text.strip().splitlines())


def run(credentials: dict, out_dir: Path, emulated: bool, plugin_env: dict | None = None) -> int:
    plugin = PluginProcess(env=plugin_env)
    try:
        plugin.start()
    except ProtocolError as exc:
        say(f"The plugin did not start: {exc}")
        return EXIT_FAILED
    failures = 0
    origin = " (from the emulator)" if emulated else ""
    try:
        t0 = time.monotonic()
        say(f"\nPlugin started as Dify's daemon starts it; first heartbeat after {plugin.ready_after:.2f}s")

        say("\n1. Settings -> Model Provider -> GigaChat -> Save (validate credentials, free of charge)")
        res = plugin.validate_provider(credentials)
        if not res.ok:
            show_error(res)
            say("\nStopped: Dify would not save these credentials, so nothing else can work. "
                "Fix what the message says and run the demo again.")
            return EXIT_FAILED
        say("   OK: credentials are valid")

        say(f"\n2. Chat app, a streamed answer{origin} from {CHAT_MODEL}:")
        sys.stdout.write("   ")
        res = plugin.invoke_llm(
            CHAT_MODEL, credentials, CHAT_MESSAGES,
            model_parameters={"temperature": 0.7, "max_tokens": CHAT_MAX_TOKENS}, stream=True,
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
            show_error(res)

        say(f"\n3. GigaChat's own web search (model parameter web_search=always), answer{origin} with its sources:")
        res = plugin.invoke_llm(CHAT_MODEL, credentials, [user(SEARCH_QUESTION)],
                                model_parameters={"web_search": "always"}, stream=True)
        if res.ok:
            text, _ = text_and_images(res.chunks)
            say(indented(text))
            say(f"   ({text.count('](http')} links to its sources: Dify shows them as clickable links)")
        else:
            failures += 1
            show_error(res)

        say(f"\n4. Image generation (model parameter image_generation=on), image{origin} saved to a file:")
        res = plugin.invoke_llm(CHAT_MODEL, credentials, [user(IMAGE_REQUEST)],
                                model_parameters={"image_generation": True}, stream=False)
        if res.ok:
            text, images = text_and_images(res.chunks)
            say(indented(text))
            if not images:
                failures += 1
                say("   No image came back (GigaChat answered with text only).")
            out_dir.mkdir(parents=True, exist_ok=True)
            for item in images:
                path = out_dir / Path(item.get("filename") or "gigachat-image.jpg").name
                data = base64.b64decode(item["base64_data"])
                path.write_bytes(data)
                say(f"   saved {item['mime_type']}, {len(data):,} bytes -> {path}")
            say("   (In Dify, an LLM node of a workflow or chatflow saves such an image as a file and shows it.)")
        else:
            failures += 1
            show_error(res)

        say(f"\n5. Knowledge base: embedding three chunks with {EMBEDDING_MODEL}:")
        texts = EMBED_TEXTS
        res = plugin.invoke_embedding(EMBEDDING_MODEL, credentials, texts)
        if res.ok:
            vectors = res.chunks[-1]["embeddings"]
            usage = res.chunks[-1]["usage"]
            say(f"   {len(vectors)} vectors of {len(vectors[0])} dimensions, {usage['tokens']} tokens "
                "(GigaChat's own values; Dify normalises them)")
            for i, t in enumerate(texts):
                norm = math.sqrt(sum(x * x for x in vectors[i]))
                say(f"   [{i}] |v|={norm:.3f}  {t}")
        else:
            failures += 1
            show_error(res)

        say(f"\nDone in {time.monotonic() - t0:.1f}s; "
            f"{'all steps succeeded' if not failures else f'{failures} step(s) failed'}.")
        return EXIT_FAILED if failures else 0
    finally:
        plugin.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-out",
                        help="where generated images are saved (default: demo-out/ in this directory)")
    parser.add_argument("--yes", action="store_true",
                        help="with a real account's key: spend the tokens the demo prints (without it nothing is sent)")
    args = parser.parse_args(argv)
    env = os.environ
    try:
        ca_file = env.get("GIGACHAT_DEMO_CA")
        ca_pem = read_ca_file(ca_file) if ca_file else None
    except SetupError as exc:
        say(f"Cannot start the demo: {exc}")
        return EXIT_SETUP

    if env.get("GIGACHAT_DEMO_KEY"):
        credentials = real_credentials(env)
        if ca_pem:
            credentials["ca_certificate"] = ca_pem
        say(f"Target: GigaChat at {credentials.get('base_url', 'its default host')} "
            f"(key from GIGACHAT_AUTHORIZATION_KEY, scope {credentials['scope']})")
        say_token_plan(confirmed=args.yes)
        if not args.yes:
            return EXIT_SETUP
        return run(credentials, args.out, emulated=False)

    from emulator import DEFAULT_KEY, Emulator

    with Emulator() as emu:
        emu.faults.chunk_latency = 0.05  # make streaming visible
        credentials = {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS",
                       "base_url": emu.base_url, "auth_url": emu.auth_url}
        say(f"Target: the bundled GigaChat emulator at {emu.base_url}")
        say("        Every answer below comes from this emulator, not from GigaChat: it echoes questions,")
        say("        invents search results and draws placeholder images. The plugin's side is real.")
        say("        Nothing is spent. Set GIGACHAT_AUTHORIZATION_KEY (and GIGACHAT_SCOPE, GIGACHAT_CA_FILE)")
        say("        to use real GigaChat.")
        say_unused_account_settings(env)
        code = run(credentials, args.out, emulated=True, plugin_env=loopback_no_proxy(env))
        say(f"Emulator saw {emu.stats.oauth_calls} OAuth call(s) for all of the above "
            "(one token per credentials, reused).")
        return code


if __name__ == "__main__":
    sys.exit(main())
