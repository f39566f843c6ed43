"""Value formats: DNS labels, resource quantities, digest-pinned images, registries, public keys and
https origins.

These are the rules the API server and the container runtime apply; checking them here lets a
bad stack setting fail before `pulumi up` sends anything. Quantity parsing is hand-written on
purpose: the only library that does it (the official `kubernetes` client) is a heavy dependency
for one regular expression and a table of suffixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "ImageRef",
    "is_dns_label",
    "is_dns_subdomain",
    "is_label_key",
    "is_label_value",
    "parse_dns_label",
    "parse_ec_public_key",
    "parse_https_origin",
    "parse_quantity",
    "registry_allows",
    "validate_registry_prefix",
]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$")

# Kubernetes resource.Quantity: a signed decimal number with an optional binary (Ki..Ei),
# decimal (n, u, m, k, M..E) or exponent suffix.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

# An OCI reference pinned by digest: repository path, optional tag, then @sha256:<64 hex>.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?"
_REPOSITORY = rf"{_HOST}(?:/{_PATH_COMPONENT})*"
_DIGEST_IMAGE = re.compile(
    rf"^(?P<repository>{_REPOSITORY})(?::(?P<tag>[\w][\w.-]{{0,127}}))?@sha256:(?P<digest>[a-f0-9]{{64}})$"
)
_REGISTRY_PREFIX = re.compile(rf"^{_REPOSITORY}$")


def is_dns_label(value: str) -> bool:
    """RFC 1123 label: what Kubernetes requires of namespace and most object names."""
    return bool(_DNS_LABEL.match(value))


def parse_dns_label(value: str) -> str:
    """`value` when it is a DNS label (a namespace's name), or raise ValueError."""
    if not is_dns_label(value):
        raise ValueError(f"expected a DNS label (lowercase a-z, 0-9, '-', at most 63), got {value!r}")
    return value


def is_dns_subdomain(value: str) -> bool:
    """RFC 1123 subdomain of at most 253 characters."""
    return len(value) <= 253 and bool(_DNS_SUBDOMAIN.match(value))


def is_label_key(key: str) -> bool:
    """A label or annotation key: an optional DNS-subdomain prefix, a slash, and a name."""
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns_subdomain(prefix):
        return False
    return bool(_LABEL_NAME.match(name))


def is_label_value(value: str) -> bool:
    """A label value: empty, or up to 63 alphanumerics with `-`, `_` and `.` inside."""
    return bool(_LABEL_VALUE.match(value))


def parse_quantity(value: str) -> Decimal:
    """Return the numeric value of a Kubernetes quantity string, or raise ValueError."""
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if match is None or value != value.strip():
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 1, 256Mi, 2Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from error
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number


@dataclass(frozen=True)
class ImageRef:
    """A container image reference pinned by an immutable sha256 digest."""

    repository: str
    digest: str
    tag: str | None = None

    @classmethod
    def parse(cls, value: str) -> ImageRef:
        """Parse `registry/path[:tag]@sha256:<64 hex>`, or raise ValueError."""
        match = _DIGEST_IMAGE.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"{value!r} is not pinned by digest; expected registry/path@sha256:<64 lowercase hex>")
        host = match["repository"].split("/", 1)[0]
        if "/" not in match["repository"] or not ("." in host or ":" in host or host == "localhost"):
            raise ValueError(
                f"{value!r} has no explicit registry host; expected e.g. registry.example.com/team/model@sha256:..."
            )
        return cls(repository=match["repository"], digest=match["digest"], tag=match["tag"])

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.repository}{tag}@sha256:{self.digest}"


def validate_registry_prefix(value: str) -> str:
    """Check an allowed-registry entry (`host[:port][/path...]`, no tag or digest)."""
    if not isinstance(value, str) or not _REGISTRY_PREFIX.match(value) or value.endswith("/"):
        raise ValueError(
            f"{value!r} is not a registry prefix; expected host[:port][/path], e.g. registry.example.com/models"
        )
    return value


def registry_allows(prefix: str, repository: str) -> bool:
    """True when `repository` lies strictly below `prefix`, on a whole path segment.

    `registry.example.com/models` admits `registry.example.com/models/fraud` but not
    `registry.example.com/models-evil/fraud` (a plain string prefix test would), nor the bare
    `registry.example.com/models`: the image signature policy's `prefix/**` glob covers exactly
    what lies below, as does the admission rule (secure_model_serving/policies/deny-untrusted-registries).
    """
    return repository.startswith(prefix + "/")


def parse_ec_public_key(value: str) -> str:
    """A PEM public key on an elliptic curve (what model-signing and cosign keys are)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(value.strip().encode())
    except ValueError:
        raise ValueError("expected a PEM public key (-----BEGIN PUBLIC KEY-----...)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("expected an elliptic-curve public key")
    return value.strip() + "\n"


def parse_https_origin(value: str) -> str:
    """An https:// server address: host and optional port, no path (Vault's)."""
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", value):
        raise ValueError(f"expected an https:// URL of the Vault server (no path), got {value!r}")
    return value
