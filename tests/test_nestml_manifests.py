"""Each part's nestml_modules.toml (what `nest-workshop build` compiles ahead of a
workshop) must describe exactly the module the part's package builds, or the notebooks
would compile again instead of loading the pre-built module."""

import importlib
from pathlib import Path

import pytest

from nest_workshop.core import nestml
from nest_workshop.core.nestml import MANIFEST_NAME, read_manifest

MATERIALS = Path(__file__).resolve().parents[1] / "materials"
# part folder -> (package module, function that builds the part's NESTML modules)
PACKAGE_BUILDERS = {"sequence_learning": ("sequences", "build_models"), "compartmental": ("compartmental", "build_model")}


def _normalised(sources, target="nest", module_name=None, codegen_opts=None, neuron_synapse_pairs=None, **ignored):
    if isinstance(sources, (str, Path)):
        sources = [sources]
    return {
        "sources": [Path(s).resolve() for s in sources],
        "target": target,
        "module_name": module_name,
        "codegen_opts": dict(codegen_opts or {}),
        "neuron_synapse_pairs": neuron_synapse_pairs,
    }


def test_every_part_with_a_package_builder_has_a_manifest():
    for part in PACKAGE_BUILDERS:
        assert (MATERIALS / part / MANIFEST_NAME).is_file(), f"materials/{part}/{MANIFEST_NAME} is missing"


@pytest.mark.parametrize("part", sorted(PACKAGE_BUILDERS))
def test_manifest_matches_the_package_call(part, monkeypatch):
    module_name, function_name = PACKAGE_BUILDERS[part]
    calls = []
    monkeypatch.setattr(nestml, "build", lambda sources, **kwargs: calls.append(_normalised(sources, **kwargs)))
    builder = getattr(importlib.import_module(f"nest_workshop.parts.{module_name}"), function_name)
    builder(MATERIALS / part / "models")
    manifest = [_normalised(**entry) for entry in read_manifest(MATERIALS / part / MANIFEST_NAME)]
    assert calls == manifest, (
        f"materials/{part}/{MANIFEST_NAME} and nest_workshop.parts.{module_name}.{function_name}() "
        "build different modules: keep them identical"
    )
    for entry in manifest:
        for source in entry["sources"]:
            assert source.is_file(), f"{source} listed in the manifest does not exist"


def test_a_bad_manifest_is_explained(tmp_path):
    from nest_workshop.core.nestml import NestmlError

    broken = tmp_path / MANIFEST_NAME
    broken.write_text("[[module]\nsources = 1")
    with pytest.raises(NestmlError, match="nestml_modules.toml: not valid TOML"):
        read_manifest(broken)
    broken.write_text('[[module]]\nsource = ["a.nestml"]')
    with pytest.raises(NestmlError, match=r"module 1: needs 'sources'; allowed keys are .*, not \['source'\]"):
        read_manifest(broken)
