"""The fixed input schema of the fraud model.

The model is trained on synthetic data, so each feature is a standardised
score of the named transaction signal (roughly mean 0, unit variance over the
training population), not a value in real-world units.  Order matters: it is
the column order of the training matrix and of every prediction request.
"""

from __future__ import annotations

FEATURES: tuple[tuple[str, str], ...] = (
    ("amount", "transaction amount"),
    ("amount_to_avg_ratio", "amount relative to the card's 30-day average"),
    ("seconds_since_last_txn", "time since the card's previous transaction"),
    ("txn_count_1h", "transactions on the card in the past hour"),
    ("txn_count_24h", "transactions on the card in the past day"),
    ("distance_from_home_km", "distance between merchant and billing address"),
    ("merchant_risk_score", "historical chargeback rate of the merchant"),
    ("device_age_days", "age of the device fingerprint"),
    ("account_age_days", "age of the customer account"),
    ("hour_of_day", "local hour of the transaction"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
