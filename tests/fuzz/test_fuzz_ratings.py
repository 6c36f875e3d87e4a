"""The ratings service under bad input: every route fuzzed from its own OpenAPI description, then the scores, paths
and sizes that property fuzzing rarely produces."""

from __future__ import annotations

from tests.fuzz.fuzz_harness import (
    FUZZ_SETTINGS,
    FuzzCase,
    RunningService,
    assert_oversized_bodies_refused,
    assert_survives_awkward_segments,
    assert_unknown_routes_refused,
    exercise,
    fuzz_schema,
)
from tests.fuzz.fuzz_shop import APPS, RATED_SKUS

KNOWN = {"sku": "Watson", "score": "3"}
schema = fuzz_schema(APPS["ratings"](), known={"sku": list(RATED_SKUS), "score": ["3", "0", "9"]})


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_ratings_answers_bad_input_with_4xx_and_changes_nothing(
    case: FuzzCase, ratings_service: RunningService
) -> None:
    exercise(ratings_service, case)


def test_fuzz_ratings_survives_awkward_path_segments(ratings_service: RunningService) -> None:
    # Scores such as -1, 2^63, 400 nines, 1e309 and NaN are among the segments.
    assert_survives_awkward_segments(ratings_service, KNOWN)


def test_fuzz_ratings_refuses_an_oversized_body_on_a_rating(ratings_service: RunningService) -> None:
    # A streamed body that the route never reads is not refused yet: see test_fuzz_known_bugs.py.
    assert_oversized_bodies_refused(ratings_service, "PUT", "/api/rate/Watson/3")


def test_fuzz_ratings_state_shows_an_accepted_rating(ratings_service: RunningService) -> None:
    # Else every "changed nothing" above would hold for want of looking.
    before = ratings_service.state()
    assert ratings_service.send("PUT", "/api/rate/Watson/4").status == 200
    assert ratings_service.state() != before


def test_fuzz_ratings_refuses_unknown_routes_and_methods(ratings_service: RunningService) -> None:
    assert_unknown_routes_refused(ratings_service, KNOWN)
