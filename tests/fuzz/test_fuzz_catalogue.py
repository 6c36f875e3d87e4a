"""The catalogue under bad input: every route fuzzed from its own OpenAPI description, then the paths and sizes
that property fuzzing rarely produces. The catalogue only reads: no request changes its data."""

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
from tests.fuzz.fuzz_shop import APPS

KNOWN = {"sku": "Watson", "category": "Robot", "text": "robot"}
schema = fuzz_schema(
    APPS["catalogue"](),
    known={"sku": ["Watson", "STAN-1"], "category": ["Robot"], "text": ["robot", "-robot smart"]},
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_catalogue_answers_bad_input_with_4xx_and_changes_nothing(
    case: FuzzCase, catalogue_service: RunningService
) -> None:
    exercise(catalogue_service, case, read_only=True)


def test_fuzz_catalogue_survives_awkward_path_segments(catalogue_service: RunningService) -> None:
    assert_survives_awkward_segments(catalogue_service, KNOWN, may_change=lambda route: False)


def test_fuzz_catalogue_refuses_an_oversized_body(catalogue_service: RunningService) -> None:
    # No catalogue route takes a body; one sent anyway is held to the limit all the same.
    assert_oversized_bodies_refused(catalogue_service, "GET", "/products", streamed=False)


def test_fuzz_catalogue_refuses_unknown_routes_and_methods(catalogue_service: RunningService) -> None:
    assert_unknown_routes_refused(catalogue_service, KNOWN)
