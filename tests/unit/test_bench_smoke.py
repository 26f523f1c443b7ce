"""`python -m bench --quick` must keep producing every figure, so the benchmark cannot rot.

This runs the real bench, with real (short) sleeps for the injected latencies: a smoke test of
about 20 s, not a measurement.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from adapters.local_warehouse.data_api import LocalDataApiClient
from bench.__main__ import main
from handlers.bootstrap import LOCAL_TARGET

FIGURES = (
    "Data API statements per 1,000 alerts",
    "Data API round trips per 1,000 alerts",
    "achieved send rate / MaxSendRate at 14/s",
    "achieved send rate / MaxSendRate at 100/s",
    "achieved send rate / MaxSendRate at 500/s",
    "SesMailer alone, pre-rendered, at 500/s",
    "wall time to drain",
    "peak memory draining",
    "Data API round trips from the model's FINISHED event to the first email accepted",
    "CPU time per alert",
    "handler cold import",
)


def test_the_quick_bench_prints_and_writes_a_table_with_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.md"

    assert main(["--quick", "--output", str(output)]) == 0

    printed = capsys.readouterr().out
    written = output.read_text(encoding="utf-8")
    table = [line for line in written.splitlines() if line.startswith("| ")]
    for figure in FIGURES:
        assert any(figure in line for line in table), figure
    assert written.strip() in printed
    # Every figure row has its six cells filled: nothing measured came out empty.
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 6
        assert all(cells), line


def test_a_client_with_a_retention_limit_forgets_its_oldest_statements() -> None:
    request = {"Sql": "SELECT 1 AS one", "WaitTimeSeconds": 1, **LOCAL_TARGET.request_fields()}
    with LocalDataApiClient(":memory:", max_retained_statements=2) as client:
        first = client.execute_statement(ClientToken="token-1", **request)["Id"]
        kept = [client.execute_statement(**request)["Id"] for _ in range(2)]

        with pytest.raises(ClientError) as forgotten:
            client.describe_statement(Id=first)
        again = client.execute_statement(ClientToken="token-1", **request)["Id"]

        assert forgotten.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert client.get_statement_result(Id=kept[1])["Records"] == [[{"longValue": 1}]]
        # The forgotten statement's token is forgotten with it: the request runs again.
        assert again != first
