"""The service sits at the end of the data flow: it imports pinet, never data_prep."""

from __future__ import annotations

import subprocess
import sys

from tests.service.conftest import REPO


def test_service_never_imports_data_prep() -> None:
    code = (
        "import sys, service.app, service.__main__; "
        "service.app.create_app(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'data_prep'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
