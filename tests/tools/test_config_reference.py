"""The configuration reference is generated from the settings' descriptions and committed in sync."""

from __future__ import annotations

from pathlib import Path

from secure_model_serving.settings import StackSettings
from tools.config_reference import REFERENCE, main, render_reference, rows, section_model


def test_the_committed_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), "run: python -m tools config-reference"


def test_every_setting_has_a_description() -> None:
    documented = list(rows(StackSettings))
    undescribed = [key for key, _, meaning in documented if not meaning]
    assert not undescribed, f"settings without a Field(description=...): {undescribed}"
    assert len(documented) > 100


def test_every_section_is_documented_by_its_keys() -> None:
    sections = [name for name, field in StackSettings.model_fields.items() if section_model(field)]
    keys = [key for key, _, _ in rows(StackSettings)]
    for section in sections:
        alias = StackSettings.model_fields[section].alias or section
        assert any(key.startswith(alias + ".") for key in keys), alias


def test_a_sections_own_default_gives_the_defaults_below_it() -> None:
    table = {key: default for key, default, _ in rows(StackSettings)}
    # The gateway is off unless enabled: the mesh's default gateway, not the gateway model's field default.
    assert table["mesh.gateway.enabled"] == "`false`"
    assert table["model.image"] == "required"
    assert table["supplyChain.mode"] == "`enforce`"
    assert table["kubernetesVersion"].startswith('`"')


def test_the_check_refuses_a_stale_file_and_accepts_a_fresh_one(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    assert main(["--check", "--out", str(out)]) == 1  # missing
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("| `model.image` |", "| `model.imag` |"), encoding="utf-8")
    assert main(["--check", "--out", str(out)]) == 1


def test_the_verb_is_registered() -> None:
    from tools.__main__ import VERBS

    assert VERBS["config-reference"][0] == "tools.config_reference"
