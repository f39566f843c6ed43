"""Property-based tests: no request, however malformed or hostile, gets a 5xx."""

from __future__ import annotations

import json
import math
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from app.features import FEATURE_NAMES
from tests.app.payloads import transaction
from tests.app.signed import TEST_MAX_BATCH, TEST_MAX_BYTES

PREDICT = "/v1/predict"
# No example database (keeps the tree clean); no deadline (shared runners).
FAST = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Any JSON value, NaN and infinities included (json.dumps writes them as the
# non-standard literals NaN/Infinity), with huge and tiny numbers.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
finite_numbers = st.integers(min_value=-(10**12), max_value=10**12) | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _post(client: FlaskClient, body: bytes, content_type: str = "application/json") -> Any:
    return client.post(PREDICT, data=body, content_type=content_type)


def _assert_json_answer(response: Any) -> dict[str, Any]:
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ("predictions" in body) == (response.status_code == 200)
    if response.status_code != 200:
        assert body["error"]["status"] == response.status_code
    return body


def _is_acceptable_number(value: Any) -> bool:
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


@FAST
@given(payload=json_values)
def test_any_json_document_gets_a_json_4xx_or_a_prediction(client: FlaskClient, payload: Any) -> None:
    _assert_json_answer(_post(client, json.dumps(payload).encode()))


@FAST
@given(body=st.binary(max_size=512), content_type=st.sampled_from(["application/json", "text/plain", "", "a/b; c=d"]))
def test_arbitrary_bytes_with_any_content_type_never_5xx(client: FlaskClient, body: bytes, content_type: str) -> None:
    response = _post(client, body, content_type)
    _assert_json_answer(response)
    assert response.status_code != 200


@st.composite
def nearly_valid_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A row of finite numbers but for one feature, which may hold any JSON value.

    One replaced value (scalars favoured) decides the outcome on its own, so
    every kind of near-miss (a boolean, a huge integer, NaN...) is tried often.
    """
    row = {name: draw(finite_numbers) for name in FEATURE_NAMES}
    row[draw(st.sampled_from(FEATURE_NAMES))] = draw(json_scalars | json_values)
    return row


def _one_off(value: Any) -> dict[str, Any]:
    return transaction(0.5) | {FEATURE_NAMES[-1]: value}


@FAST
@given(row=nearly_valid_rows())
# The classic near-misses are always tried, whatever the random draw.
@example(row=_one_off(True))
@example(row=_one_off(None))
@example(row=_one_off("0.5"))
@example(row=_one_off(10**400))
@example(row=_one_off(float("nan")))
@example(row=_one_off(float("-inf")))
@example(row=_one_off([0.5]))
@example(row=_one_off(1.7976931348623157e308))
def test_a_row_is_scored_exactly_when_every_feature_is_a_finite_number(
    client: FlaskClient, row: dict[str, Any]
) -> None:
    response = _post(client, json.dumps({"transactions": [row]}).encode())
    answer = _assert_json_answer(response)
    expected_ok = all(_is_acceptable_number(value) for value in row.values())
    assert (response.status_code == 200) == expected_ok, answer
    if expected_ok:
        assert 0.0 <= answer["predictions"][0]["fraud_probability"] <= 1.0


@FAST
@given(size=st.integers(min_value=0, max_value=3 * TEST_MAX_BATCH))
def test_batches_are_served_only_within_the_size_limit(client: FlaskClient, size: int) -> None:
    response = _post(client, json.dumps({"transactions": [transaction(0.5)] * size}).encode())
    _assert_json_answer(response)
    assert (response.status_code == 200) == (1 <= size <= TEST_MAX_BATCH)


@FAST
@given(
    extra_keys=st.dictionaries(st.text(min_size=1, max_size=30), json_scalars, min_size=1, max_size=5),
    drop=st.sets(st.sampled_from(FEATURE_NAMES), max_size=3),
)
def test_rows_with_unknown_or_missing_keys_are_refused(
    client: FlaskClient, extra_keys: dict[str, Any], drop: set[str]
) -> None:
    row = {key: value for key, value in transaction().items() if key not in drop}
    row.update({key: value for key, value in extra_keys.items() if key not in FEATURE_NAMES})
    assume(row.keys() != set(FEATURE_NAMES))
    assert _post(client, json.dumps({"transactions": [row]}).encode()).status_code == 400


@FAST
@given(depth=st.integers(min_value=1, max_value=5000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_nesting_never_crashes(client: FlaskClient, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "0" + closer * depth).encode()
    response = _post(client, body)
    _assert_json_answer(response)
    assert response.status_code in (400, 413)


@FAST
@given(extra=st.integers(min_value=0, max_value=4 * TEST_MAX_BYTES))
def test_bodies_over_the_byte_limit_are_413(client: FlaskClient, extra: int) -> None:
    # Valid JSON padded with whitespace: only the size decides.
    prefix = json.dumps({"transactions": [transaction()]}).encode()
    body = prefix + b" " * extra
    response = _post(client, body)
    _assert_json_answer(response)
    assert (response.status_code == 413) == (len(body) > TEST_MAX_BYTES)
