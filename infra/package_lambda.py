"""Build the Lambda asset directory: fraud-alerts and its runtime dependencies, for arm64.

    python infra/package_lambda.py [--output build/lambda]

Wheels are chosen for the Lambda runtime (manylinux2014 aarch64, CPython PYTHON_VERSION), never
compiled here, so the result does not depend on this machine's platform and needs no Docker.
Only `[project].dependencies` are installed: the `local`, `test` and `infra` extras (DuckDB,
sqlglot, Faker, CDK) stay out. boto3 is packaged too, although the runtime ships one: the
deployed code then runs against the SDK version it was tested with.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
# Must match RUNTIME in infra/stack.py (a test checks it).
PYTHON_VERSION: Final = "3.13"
PLATFORM: Final = "manylinux2014_aarch64"
DEFAULT_OUTPUT: Final = REPO_ROOT / "build" / "lambda"


class PackagingError(RuntimeError):
    """pip could not build or resolve the Lambda package."""


def pip_commands(project: Path, wheel_dir: Path, output: Path) -> list[list[str]]:
    """The two pip runs: build the project's own wheel, then install it for the runtime.

    pip refuses a source directory under `--only-binary=:all:`, so the project is first built
    as a (pure Python) wheel on this machine, and only that wheel goes to the cross-platform
    install.
    """
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--wheel-dir", str(wheel_dir), str(project)]
    install = [
        *pip,
        "install",
        "--platform", PLATFORM,
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--target", str(output),
        "--upgrade",
        "--no-compile",
        "--disable-pip-version-check",
    ]  # fmt: skip
    return [build, install]


def build(output: Path = DEFAULT_OUTPUT, project: Path = REPO_ROOT) -> Path:
    """Replace `output` with a fresh asset directory and return it."""
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)

    with tempfile.TemporaryDirectory() as scratch:
        wheel_dir = Path(scratch)
        build_wheel, install = pip_commands(project, wheel_dir, output)
        _run(build_wheel)
        wheels = sorted(wheel_dir.glob("fraud_alerts-*.whl"))
        if len(wheels) != 1:
            raise PackagingError(f"expected one fraud_alerts wheel, found {len(wheels)}")
        _run([*install, str(wheels[0])])

    _prune(output)
    return output


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(command, check=False)  # noqa: S603 (our own pip, fixed arguments)
    if result.returncode != 0:
        raise PackagingError(f"pip exited with {result.returncode}: {' '.join(command)}")


def _prune(output: Path) -> None:
    # Console scripts and byte-code caches are of no use inside the function.
    shutil.rmtree(output / "bin", ignore_errors=True)
    for cache in sorted(output.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        build(args.output.resolve())
    except PackagingError as exc:
        print(f"package_lambda: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(args.output)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
