"""The HTTP API through Flask's test client: real predictions, limits and refusals."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sklearn.metrics import roc_auc_score

from app.features import FEATURE_NAMES
from app.model_loader import LoadedModel
from tests.app.payloads import rows_payload, transaction
from tests.app.signed import TEST_MAX_BATCH, TEST_MAX_BYTES

PREDICT = "/v1/predict"


def _post(client: FlaskClient, body: Any, content_type: str = "application/json") -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(PREDICT, data=data, content_type=content_type)


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["status"] == status
    assert error["message"]
    return error


def test_liveness_and_readiness(client: FlaskClient, loaded_model: LoadedModel) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["model_sha256"] == loaded_model.model_sha256


def test_predictions_are_the_model_probabilities(
    client: FlaskClient, loaded_model: LoadedModel, holdout: tuple[np.ndarray, np.ndarray]
) -> None:
    rows = holdout[0][:TEST_MAX_BATCH]
    response = _post(client, rows_payload(rows))
    assert response.status_code == 200
    body = response.get_json()
    served = np.array([item["fraud_probability"] for item in body["predictions"]])
    # JSON floats round-trip exactly, so the served numbers equal a direct call.
    np.testing.assert_array_equal(served, loaded_model.estimator.predict_proba(rows)[:, 1])
    assert ((served >= 0.0) & (served <= 1.0)).all()
    threshold = body["decision_threshold"]
    assert [item["label"] for item in body["predictions"]] == [
        "fraud" if p >= threshold else "legitimate" for p in served
    ]


def test_fraudulent_rows_score_higher_than_legitimate_ones(
    client: FlaskClient, holdout: tuple[np.ndarray, np.ndarray]
) -> None:
    # Held-out rows the model never saw: every fraud row plus as many
    # legitimate ones, scored through the API in batches.
    features, labels = holdout
    fraud, legit = features[labels == 1], features[labels == 0][: int((labels == 1).sum())]
    scores: dict[str, list[float]] = {}
    for name, rows in (("fraud", fraud), ("legit", legit)):
        scores[name] = []
        for start in range(0, len(rows), TEST_MAX_BATCH):
            response = _post(client, rows_payload(rows[start : start + TEST_MAX_BATCH]))
            scores[name] += [item["fraud_probability"] for item in response.get_json()["predictions"]]
    assert np.median(scores["fraud"]) > 0.5 > np.median(scores["legit"])
    truth = [1] * len(scores["fraud"]) + [0] * len(scores["legit"])
    assert roc_auc_score(truth, scores["fraud"] + scores["legit"]) > 0.9


def test_batch_limit_is_inclusive(client: FlaskClient) -> None:
    assert _post(client, {"transactions": [transaction()] * TEST_MAX_BATCH}).status_code == 200
    error = _error(_post(client, {"transactions": [transaction()] * (TEST_MAX_BATCH + 1)}), 400)
    assert error["code"] == "batch_too_large"


def test_body_over_the_size_limit_is_413(client: FlaskClient) -> None:
    body = b'{"transactions": []' + b" " * TEST_MAX_BYTES + b"}"
    assert _error(_post(client, body), 413)["code"] == "request_too_large"


def test_body_over_the_size_limit_without_content_length_is_413(client: FlaskClient) -> None:
    # A chunked upload declares no length (gunicorn marks such input as
    # terminated); the limit must hold while the body is read.
    body = io.BytesIO(b'{"transactions": [' + b" " * TEST_MAX_BYTES + b"]}")
    response = client.post(
        PREDICT,
        input_stream=body,
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert _error(response, 413)["code"] == "request_too_large"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", ""],
)
def test_non_json_content_types_are_415(client: FlaskClient, content_type: str) -> None:
    response = _post(client, {"transactions": [transaction()]}, content_type=content_type)
    assert _error(response, 415)["code"] == "unsupported_media_type"


def test_unknown_paths_and_methods_answer_json(client: FlaskClient) -> None:
    assert _error(client.get("/nope"), 404)["code"] == "not_found"
    response = client.get(PREDICT)
    assert _error(response, 405)["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"
    assert _error(client.options(PREDICT), 405)


def test_the_api_surface_is_exactly_three_routes(app: Flask) -> None:
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD"}}
    assert routes == {("/healthz", "GET"), ("/readyz", "GET"), (PREDICT, "POST")}


def test_security_headers_on_every_answer(client: FlaskClient) -> None:
    for response in (client.get("/healthz"), client.get("/nope"), _post(client, b"{")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


_FIRST = FEATURE_NAMES[0]


def _with(value_literal: str) -> bytes:
    """A one-row body whose first feature is the raw JSON text ``value_literal``."""
    others = ", ".join(f'"{name}": 0' for name in FEATURE_NAMES[1:])
    return f'{{"transactions": [{{"{_FIRST}": {value_literal}, {others}}}]}}'.encode()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_with("NaN"), "invalid_json"),
        (_with("Infinity"), "invalid_json"),
        (_with("-Infinity"), "invalid_json"),
        (_with("1e400"), "invalid_request"),
        (_with("-1e400"), "invalid_request"),
        (_with("1" + "0" * 400), "invalid_request"),
        (_with("1" * 5000), "invalid_json"),
        (_with("true"), "invalid_request"),
        (_with("null"), "invalid_request"),
        (_with('"1.5"'), "invalid_request"),
        (_with("[1.5]"), "invalid_request"),
        (_with('{"value": 1.5}'), "invalid_request"),
        (b'{"transactions": [], "transactions": []}', "invalid_json"),
        (b"[" * 10_000 + b"]" * 10_000, "invalid_json"),
        (b'{"a": ' * 4000 + b"1" + b"}" * 4000, "invalid_json"),
        (b"\xef\xbb\xbf" + b'{"transactions": []}', "invalid_json"),
        (b'{"transactions": ["\xff"]}', "invalid_json"),
        (b"", "invalid_json"),
        (b"{", "invalid_json"),
        (b"[]", "invalid_request"),
        (b'{"transactions": {}}', "invalid_request"),
        (b'{"transactions": []}', "invalid_request"),
        (b'{"transactions": [1]}', "invalid_request"),
        (b'{"transactions": [], "debug": true}', "invalid_request"),
        (json.dumps({"transactions": [transaction(extra=1.0)]}).encode(), "invalid_request"),
        (json.dumps({"transactions": [{_FIRST: 1.0}]}).encode(), "invalid_request"),
    ],
    ids=lambda value: value[:40].decode("latin-1") if isinstance(value, bytes) else value,
)
def test_hostile_bodies_are_400_with_a_reason(client: FlaskClient, body: bytes, code: str) -> None:
    assert _error(_post(client, body), 400)["code"] == code


def test_errors_name_the_offending_field(client: FlaskClient) -> None:
    message = _error(_post(client, _with("1e400")), 400)["message"]
    assert f"transactions[0].{_FIRST}" in message
    message = _error(_post(client, {"transactions": [transaction(), {_FIRST: 1}]}), 400)["message"]
    assert "transactions[1] is missing features" in message
