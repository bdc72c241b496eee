"""The package surface: every exported name resolves, and the config imports without torch."""

import subprocess
import sys

import crossmost_losses


def test_every_exported_name_resolves() -> None:
    for name in crossmost_losses.__all__:
        assert getattr(crossmost_losses, name) is not None, name
    assert set(crossmost_losses.__all__) == {*crossmost_losses._EXPORTS, "__version__"}


def test_objective_config_imports_without_torch() -> None:
    code = (
        "import sys\n"
        "from crossmost_losses import TERM_NAMES, ObjectiveConfig\n"
        "assert ObjectiveConfig(threshold=0.5).term_weights()['alignment'] == 1.0\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
