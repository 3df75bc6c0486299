"""Category accuracy on the labelled noisy corpus (``corpus.py`` says how it is made).

A line counts as right only if the matcher names its true category and does not call it
ambiguous: an ambiguous line goes to a person, which is safe but not a match.
"""

from collections import Counter

import pytest

from services.pricing.core.catalogue import load_catalogue
from services.pricing.core.matching import Matcher, match_key
from services.pricing.core.normalise import normalise
from tests.unit.pricing.corpus import HELD_OUT, SEED, UNRELATED, generate

LINES = 2_400
MIN_ACCURACY = 0.97
MAX_CONFIDENTLY_WRONG = 0.01  # a wrong category not flagged: it would be priced as the wrong part
MIN_UNRELATED_UNMATCHED = 0.9

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def outcome():
    matcher = Matcher(CATALOGUE)
    corpus = generate(LINES)
    results = matcher.match_many([line.description for line in corpus])
    return corpus, results


def test_the_corpus_is_fixed_by_its_seed_and_large_enough():
    assert generate(50) == generate(50, seed=SEED)
    assert generate(50, seed=SEED + 1) != generate(50)
    assert len(generate(LINES)) >= 2_000


def test_held_out_names_are_not_catalogue_aliases():
    aliases = {match_key(normalise(alias)) for alias, _ in CATALOGUE.aliases()}
    for code, names in HELD_OUT.items():
        for name in names:
            assert match_key(normalise(name)) not in aliases, (code, name)


def test_category_accuracy_on_noisy_descriptions(outcome):
    corpus, results = outcome
    right = [
        r.category == line.category and not r.ambiguous
        for line, r in zip(corpus, results, strict=True)
    ]
    accuracy = sum(right) / len(corpus)
    confidently_wrong = sum(
        r.category not in (None, line.category) and not r.ambiguous
        for line, r in zip(corpus, results, strict=True)
    ) / len(corpus)
    by_noise: Counter[str] = Counter()
    right_by_noise: Counter[str] = Counter()
    for line, ok in zip(corpus, right, strict=True):
        for kind in (*line.noise, "held_out" if line.held_out else "catalogue_alias"):
            by_noise[kind] += 1
            right_by_noise[kind] += ok
    print(
        f"\ncategory accuracy {accuracy:.2%} on {len(corpus)} noisy descriptions "
        f"(unmatched or ambiguous counted wrong); confidently wrong {confidently_wrong:.2%}"
    )
    for kind in sorted(by_noise):
        print(f"  {kind:<16} {right_by_noise[kind] / by_noise[kind]:.2%} of {by_noise[kind]}")
    assert accuracy >= MIN_ACCURACY
    assert confidently_wrong <= MAX_CONFIDENTLY_WRONG


def test_unrelated_lines_come_back_unmatched():
    results = Matcher(CATALOGUE).match_many(list(UNRELATED))
    unmatched = sum(r.category is None for r in results) / len(UNRELATED)
    never_priced = sum(not r.confident for r in results) / len(UNRELATED)
    print(
        f"\nunrelated lines unmatched: {unmatched:.0%}, not confidently matched {never_priced:.0%}"
    )
    assert unmatched >= MIN_UNRELATED_UNMATCHED
