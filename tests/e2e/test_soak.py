"""The short soak: mixed invocations under random faults from a fixed seed (bench/soak.py runs the long one)."""

from bench.soak import report, run_soak


def test_short_soak_has_no_wrong_errors_hangs_duplicates_or_incomplete_batches():
    tally, info = run_soak(invocations=60, seed=11, workers=4)
    summary = report(tally, info)
    assert tally.invocations == 60, summary
    assert tally.clean, summary
    assert not info["protocol_errors"], summary
    assert sum(info["faults"].values()) > 0, "the soak must actually inject faults"
    assert tally.succeeded + sum(tally.mapped_failures.values()) == 60, summary
