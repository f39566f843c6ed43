"""The supply chain on loopback: a registry, the model image built from the app's files, cosign
signatures, and a copy of a stack file whose registry and signer are those.

`signed_model` and `prepare` do what a user's CI does (README, "Signing images and models"), with
the real tools and throw-away keys:

1. train the model and sign it with a model-signing key (app.train, app.sign: OpenSSF model
   signing), keeping the public half for the stack (`model.signingPublicKey`);
2. build the image without Docker: one layer holding the app's sources, the signed model and its
   signature, on an empty base, with the Dockerfile's user, environment and entrypoint
   (`crane append`, `crane mutate`), pushed to `<registry>/models/fraud-detector:<stack>`;
3. sign it by digest with the stack's cosign key (`cosign sign --key`, no transparency log);
4. push the variants the cases need (same digest each time, so only the place and the signature
   differ): unsigned, signed by another key, outside the policy's path, at the bare prefix;
5. write the stack file: the stack's own settings with `registries`, `model.image`,
   `model.signingPublicKey` and `supplyChain.imageSigner` pointed at the above (keyless signing
   needs Fulcio and Rekor on the internet, so a keyless stack is checked with a key here; its
   rendered keyless policy is covered by tests/components/test_supply_chain.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from app.keygen import generate_ec_keypair
from app.sign import sign_model
from app.train import save, train
from tools.mock_engine import REPO_ROOT
from tools.render import stack_file
from tools.sandbox.registry import (
    CosignKey,
    LoopbackRegistry,
    build_image,
    copy_image,
    cosign_key_pair,
    cosign_sign,
    layer_tarball,
    start_registry,
)

__all__ = ["MODEL_PATH", "SignedModel", "SupplyChain", "prepare", "signed_model"]

_PROJECT = "secure-model-serving"
MODEL_PATH = "models"
"""The registry path the test stacks allow (`registries: [<host>/models]`)."""
_REPOSITORY = "fraud-detector"
# A real model, trained small: the cases judge its signature, not its accuracy.
_TRAINING = {"n_samples": 1000, "max_iter": 10, "seed": 7}
_IMAGE_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONSAFEPATH": "1",
    "PYTHONPATH": "/opt/app/site-packages:/opt/app",
    "HOME": "/tmp",
    "MODEL_DIR": "/opt/model/current",
    "MODEL_SIGNATURE": "/opt/model/model.sig",
    "PORT": "8080",
}
_ENTRYPOINT = ("/usr/bin/python3", "-m", "gunicorn", "-c", "/opt/app/app/gunicorn.conf.py")


@dataclass(frozen=True)
class SignedModel:
    """A trained model signed with the stack's model-signing key, and a key the stack does not trust."""

    model_dir: Path
    signature: Path
    public_key: Path
    """The model-signing public key the stack mounts."""
    other_private_key: Path
    """A model-signing private key the stack does not trust."""


def signed_model(workdir: Path) -> SignedModel:
    """Train the model and sign it (app.train, app.sign), as the image build does."""
    keys = workdir / "model-keys"
    keys.mkdir(parents=True)
    generate_ec_keypair(keys / "signing-key.pem", keys / "public-key.pem")
    generate_ec_keypair(keys / "other-signing-key.pem", keys / "other-public-key.pem")
    model_dir = save(train(**_TRAINING), workdir / "model" / "current")
    signature = workdir / "model" / "model.sig"
    sign_model(model_dir, signature, keys / "signing-key.pem")
    return SignedModel(model_dir, signature, keys / "public-key.pem", keys / "other-signing-key.pem")


@dataclass(frozen=True)
class SupplyChain:
    """What `prepare` made: the registry, keys, image references and the stack file."""

    registry: LoopbackRegistry
    config_file: Path
    image_key: CosignKey
    other_key: CosignKey
    model: SignedModel
    digest: str
    images: dict[str, str]
    """Image references by case: `signed`, `unsigned`, `other-key`, `tag` (of the signed image),
    `tag-unsigned` (of the unsigned copy), `outside`, `bare-prefix`."""

    def stop(self) -> None:
        self.registry.stop()


def _app_files() -> list[tuple[Path, str]]:
    app = REPO_ROOT / "app"
    return [(path, f"/opt/app/app/{path.name}") for path in sorted(app.glob("*.py"))]


def _stack_file(stack: str, path: Path, prefix: str, image: str, model_key: Path, image_key: CosignKey) -> Path:
    document = yaml.safe_load(stack_file(stack).read_text(encoding="utf-8"))
    config = document["config"]
    config[f"{_PROJECT}:registries"] = [prefix]
    model = config[f"{_PROJECT}:model"]
    model["image"] = image
    model["signingPublicKey"] = model_key.read_text(encoding="utf-8")
    supply = config.setdefault(f"{_PROJECT}:supplyChain", {})
    supply["imageSigner"] = {"publicKey": image_key.public_pem}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def prepare(stack: str, workdir: Path, model: SignedModel) -> SupplyChain:
    """Registry, image, signatures and the loopback stack file for `stack` (module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    registry = start_registry(workdir / "logs")
    try:
        layer = layer_tarball(
            workdir / "model-layer.tar",
            [
                *_app_files(),
                *((path, f"/opt/model/current/{path.name}") for path in sorted(model.model_dir.iterdir())),
                (model.signature, "/opt/model/model.sig"),
            ],
        )
        prefix = f"{registry.host}/{MODEL_PATH}"
        repository = f"{prefix}/{_REPOSITORY}"
        tagged = f"{repository}:{stack}"
        digest = build_image(
            tagged,
            layer,
            entrypoint=_ENTRYPOINT,
            user="10001:10001",
            env=_IMAGE_ENV,
            labels={"org.opencontainers.image.title": "fraud-model-server"},
        )
        image_key = cosign_key_pair(workdir / "cosign", "sandbox-image-key")
        other_key = cosign_key_pair(workdir / "cosign-other", "sandbox-other-key")
        images = {
            "signed": f"{repository}@{digest}",
            "tag": tagged,
            "tag-unsigned": f"{prefix}/{_REPOSITORY}-unsigned:{stack}",
            "unsigned": f"{prefix}/{_REPOSITORY}-unsigned@{digest}",
            "other-key": f"{prefix}/{_REPOSITORY}-other-key@{digest}",
            "outside": f"{registry.host}/elsewhere/{_REPOSITORY}@{digest}",
            "bare-prefix": f"{prefix}@{digest}",
        }
        for case in ("unsigned", "tag-unsigned", "other-key", "outside", "bare-prefix"):
            copy_image(images["signed"], images[case])
        # Signed with the trusted key: the model image, and the copies whose place alone must
        # keep them out (outside the policy's path, at the bare prefix).
        for case in ("signed", "outside", "bare-prefix"):
            cosign_sign(image_key, images[case])
        cosign_sign(other_key, images["other-key"])
        config_file = _stack_file(
            stack, workdir / f"Pulumi.{stack}-loopback.yaml", prefix, images["signed"], model.public_key, image_key
        )
        return SupplyChain(
            registry=registry,
            config_file=config_file,
            image_key=image_key,
            other_key=other_key,
            model=model,
            digest=digest,
            images=images,
        )
    except BaseException:
        registry.stop()
        raise
