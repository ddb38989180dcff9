"""What a participant waits for after editing the sequence-learning models in NESTML.

Notebook 1 of the sequence-learning part has the participant write two regions of the
neuron-synapse pair (`nw.nestml.fill_in`) and build the pair (`nw.nestml.build`). This
script times, in a new empty cache so nothing is borrowed from earlier runs:

1. the first build of the participant's files (code generation + compilation);
2. the same files again: a cache hit (no build, only loading);
3. an edited region (a stricter dAP threshold): a rebuild;
4. an edit NESTML rejects (a misspelt name): the time until the error names file and line.

    .venv/bin/python benchmarks/nestml_exercise_rebuild.py

Results: benchmarks/results/nestml_exercise_rebuild.json and .md.
"""

import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from nest_workshop import reset_kernel
from nest_workshop.core import nestml
from nest_workshop.parts import sequences

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "materials" / "sequence_learning" / "models"
RESULTS = Path(__file__).with_name("results")

DAP_START = """
elif I_dend > theta_dAP:
    I_dend = I_p
    dAP_ticks = dAP_steps
    active_dendrite_readout = 1.
    dAP_trace += 1 pA
"""
PERMANENCE_UPDATE = """
permanence += lambda_plus * pre_trace * permanence_max
permanence += lambda_h * (zt - dAP_trace) / 1 pA * permanence_max
"""


def build(files, cache):
    reset_kernel(threads=1)
    started = time.perf_counter()
    try:
        module = nestml.build(files, module_name="sequence_learning", codegen_opts=sequences.CODEGEN_OPTS, cache_dir=cache)
    except nestml.NestmlSyntaxError as error:
        return {"wall_s": time.perf_counter() - started, "built": False, "error": str(error).splitlines()[1].strip()}
    return {"wall_s": time.perf_counter() - started, "built": module.built, **module.timings}


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        steps = [
            ("first build of the participant's models", DAP_START, PERMANENCE_UPDATE),
            ("the same text again (cache hit)", DAP_START, PERMANENCE_UPDATE),
            (
                "an edited dAP threshold (1.2 * theta_dAP): rebuild",
                DAP_START.replace("theta_dAP", "1.2 * theta_dAP"),
                PERMANENCE_UPDATE,
            ),
            ("a misspelt name (dAP_trac): NESTML's error", DAP_START, PERMANENCE_UPDATE.replace("- dAP_trace)", "- dAP_trac)")),
        ]
        for name, dap_start, permanence_update in steps:
            files = nestml.fill_in(
                {
                    MODELS / "dendritic_neuron.nestml": {"dAP start": dap_start},
                    MODELS / "permanence_synapse.nestml": {"permanence update": permanence_update},
                },
                tmp / "my_models",
            )
            row = {"step": name, **build(files, cache)}
            if "error" in row:
                row["error"] = row["error"].replace(f"{tmp}/", "")
            rows.append(row)
            print(json.dumps(row), flush=True)
    compiler = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nestml_exercise_rebuild.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# Rebuilding the sequence-learning models after a participant's NESTML edit",
        "",
        f"Written by `benchmarks/nestml_exercise_rebuild.py` on {time.strftime('%Y-%m-%d')}, "
        f"{platform.python_version()}, {compiler}; an empty cache, one thread, nothing else running.",
        "",
        "| step | wall (s) | built | code generation (s) | compilation (s) | load (s) | NESTML's error |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['step']} | {row['wall_s']:.1f} | {'yes' if row['built'] else 'no'} | "
            f"{row.get('codegen_s', float('nan')):.1f} | {row.get('compile_s', float('nan')):.1f} | "
            f"{row.get('load_s', float('nan')):.3f} | {row.get('error', '')} |"
        )
    (RESULTS / "nestml_exercise_rebuild.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
