"""Value types of the settings: the formats a key's value must have, and the models' base.

Each type is an `Annotated` pydantic type whose validator says what was expected; the
Kubernetes-specific formats themselves live in `components.formats`. `KeyedError` is how a
validator names the key a cross-field problem belongs to.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from ..formats import (
    ImageRef,
    is_dns_subdomain,
    is_label_key,
    is_label_value,
    parse_dns_label,
    parse_ec_public_key,
    parse_https_origin,
    parse_quantity,
    validate_registry_prefix,
)
from ..versions import kubernetes_minor


def _quantity(value: str) -> str:
    if parse_quantity(value) < 0:
        raise ValueError(f"expected a non-negative quantity, got {value!r}")
    return value


def _image(value: str) -> str:
    return str(ImageRef.parse(value))


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(f"expected a CIDR block such as 10.20.0.0/16, got {value!r} ({error})") from None


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, label_value in value.items():
        if not is_label_key(key):
            raise ValueError(f"{key!r} is not a valid label key")
        if not is_label_value(label_value):
            raise ValueError(f"{label_value!r} (label {key!r}) is not a valid label value")
    return value


def _kubernetes_version(value: str) -> str:
    kubernetes_minor(value)  # raises ValueError naming the expected form
    return value


def _group_name(value: str) -> str:
    if not value or value != value.strip() or any(ch.isspace() for ch in value):
        raise ValueError(f"expected a non-empty group name without whitespace, got {value!r}")
    return value


DnsLabel = Annotated[str, Field(strict=True), AfterValidator(parse_dns_label)]
Quantity = Annotated[str, Field(strict=True), AfterValidator(_quantity)]
DigestImage = Annotated[str, Field(strict=True), AfterValidator(_image)]
RegistryPrefix = Annotated[str, Field(strict=True), AfterValidator(validate_registry_prefix)]
Cidr = Annotated[str, Field(strict=True), AfterValidator(_cidr)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
GroupName = Annotated[str, Field(strict=True), AfterValidator(_group_name)]
Port = Annotated[int, Field(strict=True, ge=1024, le=65535)]
Count = Annotated[int, Field(strict=True, ge=0)]
KubernetesVersion = Annotated[str, Field(strict=True), AfterValidator(_kubernetes_version)]


class SettingsModel(BaseModel):
    """Base: immutable, camelCase keys as written in stack files, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)


class ResourceAmounts(SettingsModel):
    """cpu, memory and ephemeral-storage amounts; all three are always set."""

    cpu: Quantity
    memory: Quantity
    ephemeral_storage: Quantity = Field(alias="ephemeralStorage")

    def as_kubernetes(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "ephemeral-storage": self.ephemeral_storage}


def not_above(smaller: ResourceAmounts, larger: ResourceAmounts, what: str) -> None:
    for key, low in smaller.as_kubernetes().items():
        high = larger.as_kubernetes()[key]
        if parse_quantity(low) > parse_quantity(high):
            raise ValueError(f"{what}: {key} {low} is above {high}")


EcPublicKey = Annotated[str, Field(strict=True), AfterValidator(parse_ec_public_key)]


def _certificates(value: str) -> str:
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(value.strip().encode())
    except ValueError:
        raise ValueError("expected PEM certificates (-----BEGIN CERTIFICATE-----...)") from None
    if not all(_is_ca(certificate) for certificate in certificates):
        raise ValueError("expected CA certificates (basicConstraints CA:TRUE): the chain the signer's leaf ends in")
    return value.strip() + "\n"


def _is_ca(certificate: Any) -> bool:
    from cryptography import x509

    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


CaCertificates = Annotated[str, Field(strict=True), AfterValidator(_certificates)]


SecretKeyName = Annotated[str, Field(strict=True, pattern=r"^[-._a-zA-Z0-9]{1,253}$")]


UNDECRYPTED_SECRET = "[secret]"
"""What the offline renderer hands the program for a `secure:` value it has no key to decrypt."""


def _secret_https_url(value: SecretStr) -> SecretStr:
    """An https:// URL with any path (a webhook's), kept secret: the message never repeats it."""
    text = value.get_secret_value()
    if text != UNDECRYPTED_SECRET and not re.fullmatch(r"https://[^/\s]+(/\S*)?", text):
        raise ValueError("must be an https:// URL (the value is not shown: it is a secret)")
    return value


# pydantic's SecretStr keeps the value out of every repr and error of the settings.
SecretHttpsUrl = Annotated[SecretStr, AfterValidator(_secret_https_url)]


STORE_PATH = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,252}$"
ROLE_ARN = r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,128}$"
GCP_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
GCP_SERVICE_ACCOUNT = rf"^{GCP_PROJECT}@{GCP_PROJECT}\.iam\.gserviceaccount\.com$"


def _https_endpoint(value: str) -> str:
    """An https:// endpoint: host, optional port and path (an ACME directory, an OIDC issuer)."""
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", value):
        raise ValueError(f"expected an https:// URL (host, optional port and path), got {value!r}")
    return value


def _duration(value: str) -> str:
    if not re.fullmatch(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?", value) or not value or value in ("0s", "0m", "0h"):
        raise ValueError(f"expected a positive duration such as 1h or 15m, got {value!r}")
    return value


HttpsOrigin = Annotated[str, Field(strict=True), AfterValidator(parse_https_origin)]
HttpsEndpoint = Annotated[str, Field(strict=True), AfterValidator(_https_endpoint)]
Duration = Annotated[str, Field(strict=True), AfterValidator(_duration)]


def _hostname(value: str) -> str:
    if not (is_dns_subdomain(value) and "." in value):
        raise ValueError(f"expected a fully qualified host name such as models.example.com, got {value!r}")
    return value


Hostname = Annotated[str, Field(strict=True), AfterValidator(_hostname)]


class KeyedError(ValueError):
    """A cross-field error that belongs to a specific key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
