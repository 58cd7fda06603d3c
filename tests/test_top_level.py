"""The top-level names: every task of the command line is there with the function that writes its files, each
loads only when first used (so that `import vaelab` imports no torch), and `dir(vaelab)` lists them."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import vaelab

# top-level name → (module, the name it has there): what each command does, and how it writes its files
TASKS = {
    "arithmetic": ("vaelab.tasks.arithmetic", "arithmetic"),
    "write_arithmetic": ("vaelab.tasks.arithmetic", "write_arithmetic"),
    "attribute": ("vaelab.tasks.attribute", "attribute"),
    "write_attribute": ("vaelab.tasks.attribute", "write_attribute"),
    "blend": ("vaelab.tasks.blend", "blend"),
    "write_blend": ("vaelab.tasks.blend", "write_blend"),
    "disentangle": ("vaelab.tasks.disentangle", "disentangle"),
    "write_disentangle": ("vaelab.tasks.disentangle", "write_disentangle"),
    "explore": ("vaelab.tasks.explore", "explore"),
    "write_explore": ("vaelab.tasks.explore", "write_explore"),
    "report": ("vaelab.tasks.report", "report"),
    "write_report": ("vaelab.tasks.report", "write_report"),
    "faces": ("vaelab.tasks.faces", "faces"),
    "write_faces": ("vaelab.tasks.faces", "write_faces"),
    "evaluate": ("vaelab.metrics.evaluate", "evaluate_model"),
    "write_evaluation": ("vaelab.metrics.evaluate", "write_report"),
    "sweep": ("vaelab.tasks.sweep", "run_sweep"),
    "write_sweep": ("vaelab.tasks.sweep", "write_sweep_outputs"),
}


def _in_fresh_python(code: str):
    """Run ``code`` in a new interpreter and return the JSON it prints last."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_task_is_the_function_of_its_module(name):
    module, attribute = TASKS[name]
    assert name in vaelab.__all__
    assert getattr(vaelab, name) is getattr(importlib.import_module(module), attribute)


def test_evaluate_at_the_top_level_keeps_its_old_path():
    from vaelab.metrics.evaluate import evaluate_model

    assert vaelab.evaluate is evaluate_model


def test_importing_vaelab_imports_no_task_and_no_torch_until_a_task_is_used():
    loaded = _in_fresh_python(
        "import json, sys, vaelab\n"
        "before = sorted(m for m in sys.modules if m == 'torch' or m.startswith('vaelab.'))\n"
        "vaelab.arithmetic\n"
        "print(json.dumps([before, 'vaelab.tasks.arithmetic' in sys.modules, 'vaelab.tasks.blend' in sys.modules]))"
    )
    assert loaded == [[], True, False]


def test_the_command_line_starts_without_numpy_or_torch():
    # every `vaelab` command, `--help` included, imports vaelab.cli first: numpy alone costs it about 0.1 s a start
    loaded = _in_fresh_python(
        "import json, sys, vaelab.cli\n"
        "print(json.dumps(sorted(m for m in ('numpy', 'torch', 'sklearn') if m in sys.modules)))"
    )
    assert loaded == []


def test_dir_lists_every_public_name_and_no_helper():
    names = dir(vaelab)
    assert set(vaelab.__all__) <= set(names) and "__version__" in names
    assert {"morph", "explore", "write_explore", "evaluate"} <= set(names)
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    assert "import_module" not in names


def test_an_unknown_name_is_an_attribute_error_that_names_it():
    with pytest.raises(AttributeError, match="'no_such_task'"):
        vaelab.no_such_task  # noqa: B018
