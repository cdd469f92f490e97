"""The short soak: mixed invocations under random faults from a fixed seed (bench/soak.py runs the
long one), and proof that the seed fixes its figures."""

import pytest

from bench.soak import figures, report, run_soak

INVOCATIONS, SEED = 60, 11


@pytest.fixture(scope="module")
def soak():
    return run_soak(invocations=INVOCATIONS, seed=SEED, workers=4)


def test_short_soak_has_no_wrong_errors_hangs_duplicates_or_incomplete_batches(soak):
    tally, info = soak
    summary = report(tally, info)
    assert tally.invocations == INVOCATIONS, summary
    assert tally.clean, summary
    assert not info["protocol_errors"], summary
    assert sum(info["faults"].values()) > 0, "the soak must actually inject faults"
    assert tally.succeeded + sum(tally.mapped_failures.values()) == INVOCATIONS, summary


def test_two_soaks_with_the_same_seed_give_identical_figures_whatever_the_interleaving(soak):
    first = figures(*soak)
    again = figures(*run_soak(invocations=INVOCATIONS, seed=SEED, workers=2))  # other threads, other order
    assert first == again
    kinds = {k.split(":", 1)[1] for k in first["faults"]}
    assert len(kinds) >= 4 and sum(first["faults"].values()) >= 8  # a schedule worth comparing
    assert first["mapped_failures"]  # some invocations did fail (correctly): outcomes are compared too
    other = figures(*run_soak(invocations=INVOCATIONS, seed=SEED + 1, workers=4))
    assert other["faults"] != first["faults"]  # the seed is what decides
