"""The `supplyChain` section: Sigstore policy-controller and who must have signed the images."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ..serving_vocabulary import SupplyChainMode
from .values import DnsLabel, EcPublicKey, HttpsEndpoint, SettingsModel


class KeylessSigner(SettingsModel):
    """A Sigstore keyless identity: the OIDC issuer and the signer's subject (e.g. a CI workflow)."""

    issuer: HttpsEndpoint = Field(
        description=(
            "keyless signer: OIDC issuer (e.g. of the release workflow), checked against the Rekor "
            "log; one of `publicKey` and `keyless` is required"
        )
    )
    subject: Annotated[str, Field(strict=True, min_length=3, max_length=512)] = Field(
        description="keyless signer: the subject (e.g. the release workflow), checked against the Rekor log"
    )


class ImageSigner(SettingsModel):
    """Who must have signed the model images: a cosign public key, or a keyless identity."""

    public_key: EcPublicKey | None = Field(
        default=None,
        alias="publicKey",
        description=(
            "cosign public key (PEM, elliptic curve) that must have signed the images; one of "
            "`publicKey` and `keyless` is required"
        ),
    )
    keyless: KeylessSigner | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageSigner:
        if (self.public_key is None) == (self.keyless is None):
            raise ValueError("set exactly one of publicKey or keyless")
        return self


class SupplyChainSettings(SettingsModel):
    """Sigstore policy-controller: only signed images from the model registries are admitted."""

    enabled: bool = Field(
        default=True,
        strict=True,
        description="Sigstore policy-controller and a ClusterImagePolicy; only `dev` may set `false`",
    )
    namespace: DnsLabel = Field(
        default="cosign-system", description="the controller's namespace (exempt from the admission webhook)"
    )
    mode: SupplyChainMode = Field(
        default=SupplyChainMode.ENFORCE,
        description="`enforce` refuses unsigned images, `warn` only warns; staging and prod require `enforce`",
    )
    image_signer: ImageSigner | None = Field(default=None, alias="imageSigner")
