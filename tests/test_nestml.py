"""Building NESTML models against the NEST wheel: build, load, simulate, cache reuse,
concurrency, and every kind of failure leaving the cache clean."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nest_workshop import reset_kernel
from nest_workshop.core import nestml

from .conftest import DOCTOR_MODEL

pytestmark = pytest.mark.nestml_build
WORKER = Path(__file__).with_name("_build_worker.py")


def run_worker(cache, source):
    out = subprocess.run(
        [sys.executable, str(WORKER), str(cache), str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "NEST_WORKSHOP_THREADS": "1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def entries(cache: Path):
    """Cache entries (folders other than build temporaries)."""
    return sorted(p.name for p in Path(cache).iterdir() if p.is_dir() and not p.name.startswith(".build-"))


def temporaries(cache: Path):
    return sorted(p.name for p in Path(cache).iterdir() if p.name.startswith(".build-"))


def count_spikes(nest, model, current, t=1000.0):
    neuron = nest.Create(model, params={"I_e": current})
    recorder = nest.Create("spike_recorder")
    nest.Connect(neuron, recorder)
    nest.Simulate(t)
    return recorder.n_events


def test_built_module_loads_and_simulates_as_its_equations_say(built_module_cache, one_thread):
    cache, _ = built_module_cache
    nest = reset_kernel(seed=1)
    module = nestml.build(DOCTOR_MODEL, cache_dir=cache)
    assert not module.built, "the session fixture built it already"
    assert module.neuron_models == ["doctor_lif_neuron"] and module.synapse_models == []
    # Rheobase is (V_th - E_L) C_m / tau_m = 375 pA; at 500 pA the period is
    # tau_m ln(20/5) = 13.86 ms (no refractory period), i.e. 72 spikes in 1 s on a 0.1 ms grid.
    assert count_spikes(nest, "doctor_lif_neuron", 370.0) == 0
    assert count_spikes(nest, "doctor_lif_neuron", 500.0) in (71, 72)


def test_second_call_after_reset_reuses_the_cache(built_module_cache, one_thread):
    cache, first = built_module_cache
    built_at = json.loads((first.path.parent / "meta.json").read_text())["built_at"]
    nest = reset_kernel(seed=1)
    nestml.build(DOCTOR_MODEL, cache_dir=cache)
    nest = reset_kernel(seed=2)  # the kernel's models are gone; reset installs the module again
    assert "doctor_lif_neuron" in nest.node_models
    again = nestml.build(DOCTOR_MODEL, cache_dir=cache)
    assert not again.built and again.path == first.path
    assert json.loads((first.path.parent / "meta.json").read_text())["built_at"] == built_at
    assert count_spikes(nest, "doctor_lif_neuron", 500.0) > 0


def test_new_process_reuses_the_cache(built_module_cache):
    cache, first = built_module_cache
    result = run_worker(cache, DOCTOR_MODEL)
    assert result["built"] is False
    assert result["path"] == str(first.path)
    assert result["spikes"] in (71, 72)
    assert temporaries(cache) == []


def test_edited_model_gets_a_new_module(model_copy, tmp_path, one_thread, capsys):
    cache = tmp_path / "cache"
    nest = reset_kernel(seed=1)
    first = nestml.build(model_copy, cache_dir=cache)
    model_copy.write_text(model_copy.read_text().replace("V_th mV = -55 mV", "V_th mV = -60 mV"))
    nest = reset_kernel(seed=1)
    capsys.readouterr()
    second = nestml.build(model_copy, cache_dir=cache)
    assert second.built and second.name != first.name
    # loading it replaced the first build's models by a reset, and said what that undoes
    said = capsys.readouterr().out
    assert f"{second.name} replaces {first.name}" in said and "SetDefaults or CopyModel" in said
    # a lower threshold: rheobase 250 pA instead of 375 pA
    assert count_spikes(nest, "doctor_lif_neuron", 300.0) > 0


def test_two_processes_build_once_and_both_load(model_copy, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "NEST_WORKSHOP_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(cache), str(model_copy)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["built"] for r in results) == [False, True], results
    assert results[0]["path"] == results[1]["path"]
    assert results[0]["spikes"] == results[1]["spikes"] > 0
    assert len(entries(cache)) == 1 and temporaries(cache) == []


def test_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken_neuron.nestml"
    bad.write_text(
        DOCTOR_MODEL.read_text().replace("V_m' = -(V_m - E_L) / tau_m + I_e / C_m", "V_m' = -(V_m - E_Lx) / tau_m + I_e / C_m")
    )
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "E_Lx" in text)
    cache = tmp_path / "cache"
    with pytest.raises(nestml.NestmlSyntaxError) as info:
        nestml.build(bad, cache_dir=cache, load=False)
    assert f"{bad}:{line}:" in str(info.value)
    assert 'Variable "E_Lx" not defined' in str(info.value)
    assert entries(cache) == [] and temporaries(cache) == []


def test_parse_error_names_file_and_line(tmp_path):
    bad = tmp_path / "unparsable_neuron.nestml"
    bad.write_text(DOCTOR_MODEL.read_text().replace("V_reset mV = -70 mV", "V_reset mV = = -70 mV"))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "= = -70" in text)
    with pytest.raises(nestml.NestmlSyntaxError) as info:
        nestml.build(bad, cache_dir=tmp_path / "cache", load=False)
    assert f"{bad}:{line}:" in str(info.value)


def test_compiler_error_shows_the_log_and_caches_nothing(model_copy, tmp_path, monkeypatch):
    real_generate = nestml._generate_code

    def generate_then_break(*args, **kwargs):
        source_dir = real_generate(*args, **kwargs)
        with open(source_dir / "doctor_lif_neuron.cpp", "a") as f:
            f.write("\nthis_is_not_cpp;\n")
        return source_dir

    monkeypatch.setattr(nestml, "_generate_code", generate_then_break)
    cache = tmp_path / "cache"
    with pytest.raises(nestml.NestmlCompileError) as info:
        nestml.build(model_copy, cache_dir=cache, load=False)
    message = str(info.value)
    assert "compilation of the generated C++ code failed" in message
    assert "this_is_not_cpp" in message and "error" in message
    assert entries(cache) == [] and temporaries(cache) == []
    monkeypatch.setattr(nestml, "_generate_code", real_generate)
    assert nestml.build(model_copy, cache_dir=cache, load=False).built  # and a good build then works


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_build_leaves_no_cache_entry(model_copy, tmp_path, sig):
    cache = tmp_path / "cache"
    # A job started in the background by a non-interactive shell (`cmd &`, nohup) runs
    # with SIGINT ignored, and its children inherit that: give the worker the SIGINT of
    # an interactive session, where Ctrl-C reaches Python.
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(cache), str(model_copy)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NEST_WORKSHOP_THREADS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    # Wait until compilation has started: the build folder holds generated code.
    while time.time() < deadline and not list(cache.glob(".build-*/build")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert proc.returncode != 0, proc.communicate()
    assert entries(cache) == []
    if sig == signal.SIGINT:
        assert temporaries(cache) == []  # cleaned up on the way out
    # The next build is not fooled by what was left; it removes stale temporaries.
    result = run_worker(cache, model_copy)
    assert result["built"] is True and result["spikes"] > 0
    assert len(entries(cache)) == 1


def test_incomplete_cache_entry_is_rebuilt(built_module_cache, tmp_path):
    cache, first = built_module_cache
    import shutil

    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    entry = copy / first.path.parent.name
    (entry / first.path.name).unlink()  # e.g. a disk cleaner removed the library
    module = nestml.build(DOCTOR_MODEL, cache_dir=copy, load=False)
    assert module.built and module.path.is_file()


def test_shared_cache_is_read_and_never_written(built_module_cache, tmp_path, monkeypatch):
    """A workshop server's shared layer ($NEST_WORKSHOP_SHARED_CACHE/nestml): a module
    built there once is used from there; an edited model builds into one's own cache."""
    import shutil

    cache, first = built_module_cache
    shared = tmp_path / "shared"
    shutil.copytree(cache, shared / "nestml")
    monkeypatch.setenv("NEST_WORKSHOP_SHARED_CACHE", str(shared))
    own = tmp_path / "own"
    module = nestml.build(DOCTOR_MODEL, cache_dir=own, load=False)
    assert not module.built and module.path == shared / "nestml" / first.path.parent.name / first.path.name
    assert not any(own.glob("*/meta.json")), "nothing is copied into one's own cache"
    before = sorted(p.name for p in (shared / "nestml").iterdir())
    edited = tmp_path / DOCTOR_MODEL.name
    edited.write_text(DOCTOR_MODEL.read_text().replace("C_m pF = 250 pF", "C_m pF = 251 pF"))
    assert nestml.build(edited, cache_dir=own, load=False).built
    assert len(list(own.glob("*/meta.json"))) == 1
    assert sorted(p.name for p in (shared / "nestml").iterdir()) == before, "the shared layer is read only"


def test_missing_tools_are_named_with_the_packages(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    missing = dict(nestml.missing_build_tools())
    assert missing["the 'g++' command"] == "g++"
    assert missing["the 'cmake' command"] == "cmake"
    assert missing["the C++ header <gsl/gsl_errno.h>"] == "libgsl-dev"
    assert missing["the C++ header <boost/version.hpp>"] == "libboost-dev"
    assert missing["the C++ header <ltdl.h>"] == "libltdl-dev"


def test_missing_tools_stop_the_build_with_the_command_to_run(model_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(nestml, "missing_build_tools", lambda: [("the C++ header <ltdl.h>", "libltdl-dev")])
    with pytest.raises(nestml.MissingBuildToolsError) as info:
        nestml.build(model_copy, cache_dir=tmp_path / "cache", load=False)
    assert "sudo apt-get install -y libltdl-dev" in str(info.value)
    assert "<ltdl.h>" in str(info.value)


def test_nest_config_stand_in_answers_for_the_wheel(tmp_path):
    script = nestml.write_nest_config(tmp_path)

    def ask(option):
        return subprocess.run([str(script), option], capture_output=True, text=True, check=True).stdout.strip()

    assert ask("--includes") == f"-I{nestml.nest_include_dir()}"
    assert "-D_GLIBCXX_USE_CXX11_ABI=0" in ask("--cflags") and "-std=c++20" in ask("--cflags")
    assert ask("--libs") == ""
    assert ask("--prefix") == str(tmp_path)
    assert ask("--static-libraries") == "OFF"
    assert ask("--version") == "3.10.0"
    assert Path(ask("--compiler")).name == "g++"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": "gpu"}, "unknown target"),
        ({"codegen_opts": {"nest_path": "/x"}}, "nest_path"),
        ({"codegen_opts": {"x": object()}}, "plain values"),
        ({"module_name": "1bad name"}, r"C\+\+ identifier"),
    ],
)
def test_bad_options_are_refused_clearly(kwargs, message, tmp_path):
    with pytest.raises(nestml.NestmlError, match=message):
        nestml.build(DOCTOR_MODEL, cache_dir=tmp_path, load=False, **kwargs)


def test_bad_sources_are_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nestml.build(tmp_path / "nothing.nestml", cache_dir=tmp_path)
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(nestml.NestmlError, match="must end in .nestml"):
        nestml.build(tmp_path / "model.txt", cache_dir=tmp_path)
    with pytest.raises(nestml.NestmlError, match="without .nestml files"):
        nestml.build(tmp_path, cache_dir=tmp_path / "cache")


def test_loading_into_a_kernel_with_nodes_says_what_to_do(built_module_cache, one_thread, monkeypatch):
    cache, _ = built_module_cache
    monkeypatch.setattr(nestml, "_loaded", {})  # as in a fresh process that never loaded the module; restored after
    nest = reset_kernel(seed=1)
    nest.Create("iaf_psc_alpha")
    with pytest.raises(nestml.NestmlError, match="Call nest_workshop.reset_kernel\\(\\) first"):
        nestml.build(DOCTOR_MODEL, cache_dir=cache)
