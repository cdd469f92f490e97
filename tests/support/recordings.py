"""Where the recorded real GigaChat traffic is: ../shared/reference/gigachat-recordings beside the
checkout (here and in CI clones)."""

from pathlib import Path

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "gigachat-recordings"
CASSETTES = RECORDINGS / "cassettes"
FIXTURES = RECORDINGS / "fixtures"
