"""Edge TLS: the Gateway's servers, the routes behind it, and the certificate it serves.

Per Gateway server (by port): the minimum TLS version must not fall (Istio's default, when unset,
is TLS 1.2), the TLS mode must not weaken (MUTUAL > SIMPLE > passthrough), the HTTP server must keep
redirecting to HTTPS, and no plaintext server, host or cipher may appear. Routes and hosts added
to what the edge serves are exposure a reviewer must see; so is a weaker or re-issued certificate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from secure_model_serving.cluster.edge import MIN_TLS_VERSION
from tools.posture.compare import added, lowered, pairs
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "edge TLS"
KINDS = frozenset({"Gateway", "VirtualService", "Certificate"})
GROUPS: frozenset[str] = frozenset()
CHARTS = frozenset({"gateway"})

_TLS_RANK = {"TLS_AUTO": 0, "TLSV1_0": 1, "TLSV1_1": 2, "TLSV1_2": 3, "TLSV1_3": 4}
_ISTIO_DEFAULT_MIN = "TLSV1_2"
_MODE_RANK = {
    "PASSTHROUGH": 0,
    "AUTO_PASSTHROUGH": 0,
    "SIMPLE": 1,
    "OPTIONAL_MUTUAL": 1,
    "MUTUAL": 2,
    "ISTIO_MUTUAL": 2,
}
_SECURE_PROTOCOLS = ("HTTPS", "TLS")
_ALGORITHM_RANK = {"RSA": 0, "ECDSA": 1, "Ed25519": 1}


def _servers(document: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {str(dig(server, "port.number")): server for server in dig(document, "spec.servers") or ()}


def _server_weakenings(subject: str, port: str, was: dict[str, Any] | None, now: dict[str, Any]) -> Iterator[Finding]:
    field = f"spec.servers[port {port}]"
    protocol_now = str(dig(now, "port.protocol", "")).upper()
    if was is None:
        if protocol_now not in _SECURE_PROTOCOLS and not dig(now, "tls.httpsRedirect"):
            yield Finding(AREA, subject, field, ABSENT, f"{protocol_now} without redirect", "plaintext served")
        if protocol_now in _SECURE_PROTOCOLS and lowered(
            _TLS_RANK, MIN_TLS_VERSION, dig(now, "tls.minProtocolVersion") or _ISTIO_DEFAULT_MIN
        ):
            yield Finding(
                AREA,
                subject,
                f"{field}.tls.minProtocolVersion",
                ABSENT,
                str(dig(now, "tls.minProtocolVersion")),
                f"accepts TLS older than {MIN_TLS_VERSION}",
            )
        return
    protocol_was = str(dig(was, "port.protocol", "")).upper()
    if protocol_was in _SECURE_PROTOCOLS and protocol_now not in _SECURE_PROTOCOLS:
        yield Finding(AREA, subject, f"{field}.port.protocol", protocol_was, protocol_now, "TLS no longer terminated")
    min_was = dig(was, "tls.minProtocolVersion") or _ISTIO_DEFAULT_MIN
    min_now = dig(now, "tls.minProtocolVersion") or _ISTIO_DEFAULT_MIN
    if protocol_was in _SECURE_PROTOCOLS and lowered(_TLS_RANK, min_was, min_now):
        yield Finding(AREA, subject, f"{field}.tls.minProtocolVersion", min_was, min_now, "older TLS accepted")
    mode_was, mode_now = dig(was, "tls.mode"), dig(now, "tls.mode")
    if mode_was and lowered(_MODE_RANK, mode_was, mode_now or "SIMPLE", default=1):
        yield Finding(AREA, subject, f"{field}.tls.mode", mode_was, short(mode_now), "weaker TLS mode")
    if dig(was, "tls.httpsRedirect") is True and dig(now, "tls.httpsRedirect") is not True:
        yield Finding(
            AREA,
            subject,
            f"{field}.tls.httpsRedirect",
            "true",
            short(dig(now, "tls.httpsRedirect")),
            "plaintext HTTP served",
        )
    ciphers = added(dig(was, "tls.cipherSuites") or (), dig(now, "tls.cipherSuites") or ())
    if ciphers or (dig(was, "tls.cipherSuites") and not dig(now, "tls.cipherSuites")):
        yield Finding(
            AREA,
            subject,
            f"{field}.tls.cipherSuites",
            short(dig(was, "tls.cipherSuites")),
            short(ciphers or "proxy defaults"),
            "more ciphers accepted",
        )
    hosts = added(was.get("hosts") or (), now.get("hosts") or ())
    if hosts:
        yield Finding(AREA, subject, f"{field}.hosts", short(was.get("hosts")), short(hosts), "more hosts served")


def _gateway_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "Gateway"):
        if now is None:
            continue
        old_servers = _servers(was)
        for port, server in _servers(now).items():
            yield from _server_weakenings(str(key), port, old_servers.get(port) if was else None, server)
        if was is not None and dig(was, "spec.selector") != dig(now, "spec.selector"):
            yield Finding(
                AREA,
                str(key),
                "spec.selector",
                short(dig(was, "spec.selector")),
                short(dig(now, "spec.selector")),
                "served by other proxies",
            )


def _route_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "VirtualService"):
        if now is None or was is None:
            continue
        for field in ("hosts", "gateways", "http", "tcp", "tls"):
            grown = added(dig(was, f"spec.{field}") or (), dig(now, f"spec.{field}") or ())
            if grown:
                yield Finding(AREA, str(key), f"spec.{field}", "(not routed)", short(grown), "more exposed at the edge")


def _certificate_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "Certificate"):
        if was is None or now is None:
            continue
        subject = str(key)
        if lowered(
            _ALGORITHM_RANK,
            dig(was, "spec.privateKey.algorithm") or "RSA",
            dig(now, "spec.privateKey.algorithm") or "RSA",
        ):
            yield Finding(
                AREA,
                subject,
                "spec.privateKey.algorithm",
                short(dig(was, "spec.privateKey.algorithm")),
                short(dig(now, "spec.privateKey.algorithm")),
                "weaker key",
            )
        size_was, size_now = dig(was, "spec.privateKey.size"), dig(now, "spec.privateKey.size")
        same_algorithm = dig(was, "spec.privateKey.algorithm") == dig(now, "spec.privateKey.algorithm")
        if same_algorithm and isinstance(size_was, int) and (not isinstance(size_now, int) or size_now < size_was):
            yield Finding(AREA, subject, "spec.privateKey.size", str(size_was), short(size_now), "weaker key")
        if (
            dig(was, "spec.privateKey.rotationPolicy") == "Always"
            and dig(now, "spec.privateKey.rotationPolicy") != "Always"
        ):
            yield Finding(
                AREA,
                subject,
                "spec.privateKey.rotationPolicy",
                "Always",
                short(dig(now, "spec.privateKey.rotationPolicy")),
                "the key is reused on renewal",
            )
        if dig(was, "spec.issuerRef") != dig(now, "spec.issuerRef"):
            yield Finding(
                AREA,
                subject,
                "spec.issuerRef",
                short(dig(was, "spec.issuerRef")),
                short(dig(now, "spec.issuerRef")),
                "issued by another authority",
            )


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every edge weakening between two renders."""
    yield from _gateway_weakenings(old, new)
    yield from _route_weakenings(old, new)
    yield from _certificate_weakenings(old, new)
