"""`python -m tests.reliability.config_driver CASES.json`: many CLI runs in one process.

Each case is `{"argv": [...], "env": {...}}`; the driver replaces `os.environ` with `env`,
calls the real entry point `monitor.cli.main(argv)`, and records the exit status it
returns and what it printed. Starting Python once for a hundred bad files keeps the suite
cheap; nothing between the command line and the exit status is bypassed. The results
are printed as one JSON list, in case order.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

from monitor.cli import main


def run(case: dict[str, object]) -> dict[str, object]:
    env = case["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in case["argv"]])  # type: ignore[attr-defined]
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


if __name__ == "__main__":
    cases = json.loads(Path(sys.argv[1]).read_text())
    saved = dict(os.environ)
    results = [run(case) for case in cases]
    os.environ.clear()
    os.environ.update(saved)
    print(json.dumps(results))
