"""What the plugin's start reads: dify_plugin parses the manifest, the provider form and every
model's YAML (about 40 KB here, against 1 KB for a minimal plugin) with PyYAML's pure-Python
loader, ``yaml.safe_load``, which made most of what this plugin's start cost beyond a minimal
plugin's.

libyaml's loader (``yaml.CSafeLoader``, in PyYAML's wheels) builds the same objects with the same
constructor in about a tenth of the time; tests/unit/test_startup.py checks that every YAML file
the plugin ships loads the same with both. It is used only while dify_plugin reads them at start
(``libyaml_loading`` around ``Plugin(...)`` in main.py, single-threaded, then undone), and where
PyYAML was built without libyaml nothing changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import yaml  # dify_plugin imports it at start anyway


@contextlib.contextmanager
def libyaml_loading() -> Iterator[None]:
    """``yaml.safe_load`` through libyaml within the block; PyYAML's own again after it."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        yield
        return
    original = yaml.safe_load
    yaml.safe_load = lambda stream: yaml.load(stream, Loader=loader)  # noqa: S506 (a safe loader)
    try:
        yield
    finally:
        yaml.safe_load = original
