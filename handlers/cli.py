"""`fraud-alerts`: run the job from a terminal, on the embedded default or against AWS."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adapters.clock import SystemClock
from adapters.observability import logger
from domain.ports import Deadline, StatusReport
from domain.sweep import SweepReport
from handlers.bootstrap import Runtime, build_runtime
from handlers.settings import Backend, ConfigurationError, Settings

DEMO_ROWS = 5000

# The shell's code for a command ended by Ctrl-C, so a script can tell a stopped run.
INTERRUPTED = 130

_DESCRIPTION = """\
Email every customer whose transaction the fraud model flagged, exactly once.

Settings come from environment variables (see the README). Without FRAUD_ALERTS_BACKEND=aws,
everything runs on the embedded default: a DuckDB warehouse file and an outbox of .eml files.
"""


def main(argv: Sequence[str] | None = None) -> int:
    # A terminal wants the summary, not a JSON line per batch; LOG_LEVEL=INFO brings them back.
    if not (os.environ.get("LOG_LEVEL") or os.environ.get("POWERTOOLS_LOG_LEVEL")):
        logger.setLevel("WARNING")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.command(args)
    except ConfigurationError as exc:
        print(f"fraud-alerts: configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `fraud-alerts status | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"fraud-alerts: cannot read input: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Anything else ends the command with one line; the traceback is for LOG_LEVEL=DEBUG.
        # Some engines explain at length (DuckDB's CSV errors run to 30 lines); the head says it.
        summary = " / ".join(str(exc).strip().splitlines()[:3])
        print(f"fraud-alerts: {type(exc).__name__}: {summary}", file=sys.stderr)
        if logger.log_level <= logging.DEBUG:
            traceback.print_exc()
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraud-alerts", description=_DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="create a local warehouse, load flagged transactions, run one sweep, print a summary",
    )
    demo.add_argument("--csv", type=Path, help="load this CSV instead of generated sample rows")
    demo.add_argument(
        "--rows", type=_positive, default=DEMO_ROWS, help="generated rows (default %(default)s)"
    )
    demo.set_defaults(command=_demo)

    load = commands.add_parser(
        "load", help="load a CSV in predicted_fraud's layout into the local warehouse"
    )
    load.add_argument(
        "--csv", type=Path, required=True, help="header row of column names; empty field = NULL"
    )
    load.set_defaults(command=_load)

    sweep = commands.add_parser(
        "sweep", help="one sweep against the configured warehouse and mailer"
    )
    sweep.add_argument("--json", action="store_true", help="print the run's report as JSON")
    sweep.set_defaults(command=_sweep)

    status = commands.add_parser(
        "status", help="alerts per state, stuck claims, oldest pending alert"
    )
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.set_defaults(command=_status)

    migrate = commands.add_parser("migrate", help="create fraud-alerts' own table (idempotent)")
    migrate.set_defaults(command=_migrate)

    invoke = commands.add_parser(
        "invoke", help="run the Lambda handler locally on an EventBridge event file"
    )
    invoke.add_argument(
        "--event", type=Path, required=True, help="a JSON event, e.g. a Data API status change"
    )
    invoke.add_argument(
        "--timeout", type=float, default=300.0, help="the simulated Lambda timeout in seconds"
    )
    invoke.set_defaults(command=_invoke)
    return parser


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a positive number of rows")
    return number


def _runtime(*, force_local: bool = False, existing_warehouse: bool = False) -> Runtime:
    settings = Settings.from_env()
    local = settings.backend is Backend.LOCAL
    if force_local and not local:
        raise ConfigurationError(
            "this command only runs on the embedded default: unset FRAUD_ALERTS_BACKEND"
        )
    if existing_warehouse and local and not settings.local_warehouse.exists():
        # Opening it would create an empty warehouse at a mistyped path.
        raise ConfigurationError(
            f"LOCAL_WAREHOUSE={str(settings.local_warehouse)!r} does not exist: run"
            " `fraud-alerts demo` or `fraud-alerts load --csv FILE` first, or fix the path"
        )
    return build_runtime(settings)


def _demo(args: argparse.Namespace) -> int:
    with _stop_on_interrupt() as interrupt:
        runtime = _runtime(force_local=True)
        deadline = Deadline(runtime.clock, None)
        runtime.migrate(deadline)
        loaded = _ensure_demo_rows(runtime, args.csv, args.rows)

        sweep, command = runtime.sweep(deadline, progress=_show_progress)
        report = sweep.run(command, interrupt.sending)
    status = runtime.status(Deadline(runtime.clock, None))

    if loaded:
        print(f"Loaded {loaded} flagged transactions into {runtime.settings.local_warehouse}")
    _print_sweep(report)
    _print_status(status)
    print(f"\nOutbox: {runtime.settings.outbox_dir.resolve()} (one .eml file per email)")
    print("Run `make demo` again: nothing new is sent.")
    return INTERRUPTED if interrupt.interrupted else 0


def _ensure_demo_rows(runtime: Runtime, csv: Path | None, rows: int) -> int:
    from adapters.local_warehouse.loader import create_alerts_table, load_csv
    from adapters.local_warehouse.sample_data import write_csv

    table = runtime.settings.tables.alerts
    create_alerts_table(runtime.data_api, table)
    if runtime.data_api.query_local(f"SELECT COUNT(*) FROM {table}")[0][0]:
        return 0
    if csv is None:
        csv = runtime.settings.local_warehouse.parent / "demo-predicted-fraud.csv"
        write_csv(csv, rows)
    return int(load_csv(runtime.data_api, csv, table))


def _load(args: argparse.Namespace) -> int:
    from adapters.local_warehouse.loader import create_alerts_table, load_csv

    runtime = _runtime(force_local=True)
    create_alerts_table(runtime.data_api, runtime.settings.tables.alerts)
    runtime.migrate(Deadline(runtime.clock, None))
    count = load_csv(runtime.data_api, args.csv, runtime.settings.tables.alerts)
    settings = runtime.settings
    print(f"Loaded {count} rows into {settings.tables.alerts} ({settings.local_warehouse})")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    with _stop_on_interrupt() as interrupt:
        runtime = _runtime(existing_warehouse=True)
        deadline = Deadline(runtime.clock, None)
        if runtime.settings.backend is Backend.LOCAL:
            runtime.migrate(deadline)
        sweep, command = runtime.sweep(deadline, progress=_show_progress)
        report = sweep.run(command, interrupt.sending)
    if args.json:
        print(json.dumps(_report_dict(report), indent=2, sort_keys=True))
    else:
        _print_sweep(report)
    if interrupt.interrupted:
        return INTERRUPTED
    return 0 if report.halt is None else 1


def _status(args: argparse.Namespace) -> int:
    runtime = _runtime(existing_warehouse=True)
    status = runtime.status(Deadline(runtime.clock, 60.0))
    if args.json:
        print(json.dumps(asdict(status), indent=2, sort_keys=True))
    else:
        _print_status(status)
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    runtime = _runtime()
    applied = runtime.migrate(Deadline(runtime.clock, 600.0))
    print(f"Schema up to date ({len(applied)} idempotent migration(s): {', '.join(applied)})")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from handlers.lambda_entry import LocalLambdaContext, handler

    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"--event {args.event}: not a JSON event ({exc})") from None
    # Lambda prints its metrics (EMF) to stdout; here stdout is for the handler's result.
    with contextlib.redirect_stdout(sys.stderr):
        result = handler(event, LocalLambdaContext(timeout_seconds=args.timeout))
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


def _show_progress(report: SweepReport) -> None:
    # One line per batch on stderr; a terminal sees it rewrite itself in place.
    line = (
        f"batch {report.batches}: {report.sent} sent, {report.rejected_total} rejected,"
        f" {report.deferred_total} deferred"
    )
    if sys.stderr.isatty():
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr)


@dataclass
class _Interrupt:
    """What Ctrl-C did to a run: `sending` is the deadline the sweep sends by."""

    sending: Deadline = field(default_factory=lambda: Deadline(SystemClock(), None))
    interrupted: bool = False


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[_Interrupt]:
    """First Ctrl-C: stop sending, record what was sent, release the rest. Second: stop hard.

    Installed before anything else runs, so a Ctrl-C during start-up is kept too: DuckDB turns a
    SIGINT that reaches it into an error of its own, which a retry would swallow. A hard stop
    mid-batch would leave emails sent but unrecorded, to be sent again once their claim's lease
    expires; the first Ctrl-C only ends the deadline the sweep sends by, and the warehouse writes,
    which keep their own deadline, still complete.
    """
    interrupt = _Interrupt()

    def stop_gracefully(_signal: int, _frame: object) -> None:
        message = "fraud-alerts: stopping after this batch is recorded (Ctrl-C again to abort)"
        print(message, file=sys.stderr)
        interrupt.interrupted = True
        interrupt.sending.cut_short()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop_gracefully)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def _report_dict(report: SweepReport) -> dict[str, object]:
    data = asdict(report)
    data["rejected"] = dict(report.rejected)
    data["deferred"] = dict(report.deferred)
    return data


def _print_sweep(report: SweepReport) -> None:
    took = f"{report.batches} batch(es) in {report.duration_seconds:.1f} s"
    print(f"\nThis run ({report.run_id}): {took}")
    _table(
        [
            ("alerts claimed", report.claimed),
            ("sent", report.sent),
            ("rejected", report.rejected_total),
            *[
                (f"  rejected: {reason}", count)
                for reason, count in sorted(report.rejected.items())
            ],
            ("deferred", report.deferred_total),
            *[
                (f"  deferred: {reason}", count)
                for reason, count in sorted(report.deferred.items())
            ],
        ]
    )
    if report.halt:
        print(f"Sending stopped: {report.halt}")


def _print_status(status: StatusReport) -> None:
    print("\nWarehouse status")
    _table(
        [
            ("pending", status.pending),
            ("claimed (in flight)", status.claimed),
            ("sent", status.sent),
            ("rejected", status.rejected),
            *[
                (f"  rejected: {reason}", count)
                for reason, count in sorted(status.rejected_by_reason.items())
            ],
            ("unknown (at-most-once)", status.unknown),
            ("claims past their lease", status.expired_claims),
            ("deferred too often", status.deferred_too_often),
            ("duplicate rows (same transaction)", status.duplicate_rows),
            ("rows with email_sent = true", status.already_sent_rows),
            (
                "oldest pending alert",
                "-"
                if status.oldest_pending_age_seconds is None
                else f"{status.oldest_pending_age_seconds:.0f} s",
            ),
        ]
    )


def _table(rows: Sequence[tuple[str, object]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>8}")


if __name__ == "__main__":
    raise SystemExit(main())
