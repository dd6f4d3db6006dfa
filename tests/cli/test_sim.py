"""`ltsp-mesh sim`: the benchmark table, its JSON and CSV, the plot, the planner, and lazy imports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ltsp_mesh.cli import main, sim
from ltsp_mesh.cli.exit_codes import FAILED, OK, USAGE
from ltsp_mesh.core.sim import CONTENDERS, SCENARIOS


def test_cli_scenario_names_are_the_simulators() -> None:
    assert tuple(SCENARIOS) == sim.SCENARIO_NAMES


def test_text_is_a_table_with_every_algorithm_and_anchor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot"]) == OK
    out = capsys.readouterr().out
    assert out.startswith("Margot: 17 clients")
    assert "PEAK/FAIR" in out and "END/FAIR" in out and "DEAD LOGINS" in out
    for contender in CONTENDERS:
        assert f"\n{contender} " in out


def test_json_is_one_envelope_with_a_row_per_contender(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--json", "--seed", "3", "--claim-ttl", "600"]) == OK
    envelope = json.loads(capsys.readouterr().out)
    assert envelope["ltsp_mesh_result_version"] == 1 and envelope["command"] == "sim" and envelope["ok"]
    (scenario,) = envelope["data"]["scenarios"]
    assert scenario["name"] == "margot" and scenario["claim_ttl_s"] == 600.0
    assert [r["contender"] for r in scenario["rows"]] == list(CONTENDERS)
    assert envelope["data"]["seeds"] == [3] and envelope["data"]["targets"] == []


def test_csv_has_the_header_and_a_line_per_contender_and_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--csv", "--runs", "2"]) == OK
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == sim.CSV_FIELDS
    assert len(rows) == 1 + 2 * len(CONTENDERS)
    assert {r[1] for r in rows[1:]} == {"1", "2"}


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "margot.png"
    assert main(["sim", "margot", "--plot", str(path)]) == OK
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {path}" in capsys.readouterr().out


def test_plot_into_a_missing_directory_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "margot", "--plot", str(tmp_path / "no" / "x.png")]) == FAILED
    assert "does not exist" in capsys.readouterr().err


def test_rudolfo_prints_its_targets_and_meets_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "rudolfo", "--json"]) == OK
    found = json.loads(capsys.readouterr().out)["data"]["targets"]
    assert [t["met"] for t in found] == [True] * 5  # the default's two and broker mode's three
    assert found[0]["name"] == "least-loaded peak / fair share"


def test_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "atlantis"])
    assert exit_info.value.code == USAGE
    assert "'atlantis' is not one of" in capsys.readouterr().err


def test_plan_options_on_a_scenario_run_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--clients", "10"]) == FAILED
    assert "--clients belong to `ltsp-mesh sim plan`" in capsys.readouterr().err


def test_plan_answers_with_the_number_of_servers(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["sim", "plan", "--clients", "200", "--server-capacity", "8", "16", "--max-fill", "2.5"]) == OK
    )
    out = capsys.readouterr().out
    assert "SERVERS" in out and "answer: " in out


def test_plan_json_has_the_answer_and_each_size_tried(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sim", "plan", "--clients", "200", "--server-capacity", "8", "--max-fill", "2.5", "--json"]
    assert main(args) == OK
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["answer"] == data["steps"][-1]["servers"] and data["steps"][-1]["ok"]
    assert data["lower_bound"] == 10 and data["contender"] == "least-loaded"


def test_plan_without_its_options_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "plan", "--clients", "200"]) == FAILED
    assert "--server-capacity, --max-fill" in capsys.readouterr().err


def test_plan_refuses_an_unknown_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sim", "plan", "--clients", "20", "--server-capacity", "8", "--max-fill", "2", "--algorithm", "x"]
    assert main(args) == FAILED
    assert "--algorithm='x' is not one of" in capsys.readouterr().err


def test_plan_with_no_answer_exits_1_and_still_shows_what_it_tried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [
        "sim",
        "plan",
        "--clients",
        "200",
        "--server-capacity",
        "8",
        "--max-fill",
        "1.5",
        "--algorithm",
        "x2go-broker",
    ]
    assert main(args) == FAILED
    captured = capsys.readouterr()
    assert "SERVERS" in captured.out and "no site of" in captured.err


def test_building_the_parser_imports_neither_the_simulator_nor_matplotlib() -> None:
    code = (
        "import sys\nfrom ltsp_mesh.cli import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('ltsp_mesh.core.sim', 'matplotlib'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_scenario_options_reach_the_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sim", "margot", "--json", "--claim-delay", "1", "2", "--txt-staleness", "30"]
    assert main(args) == OK
    (scenario,) = json.loads(capsys.readouterr().out)["data"]["scenarios"]
    assert scenario["claim_delay_s"] == [1.0, 2.0] and scenario["txt_staleness_s"] == 30.0


def test_a_claim_delay_range_upside_down_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--claim-delay", "5", "1"]) == FAILED
    assert "--claim-delay HIGH=1.0 is not a number of seconds from 5 to 3600" in capsys.readouterr().err


def test_plan_refuses_scenario_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "sim",
        "plan",
        "--clients",
        "20",
        "--server-capacity",
        "8",
        "--max-fill",
        "2",
        "--claim-ttl",
        "60",
    ]
    assert main(args) == FAILED
    assert "--claim-ttl belong to scenarios" in capsys.readouterr().err


def test_only_runs_the_named_contenders_and_refuses_unknown_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--json", "--only", "x2go-broker", "least-loaded"]) == OK
    (scenario,) = json.loads(capsys.readouterr().out)["data"]["scenarios"]
    assert [r["contender"] for r in scenario["rows"]] == ["least-loaded", "x2go-broker"]
    assert main(["sim", "margot", "--only", "round-robin"]) == FAILED
    assert "--only round-robin: not one of" in capsys.readouterr().err


def test_broker_mode_and_the_oracle_are_rows_with_their_distance_to_the_oracle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "margot", "--only", "least-loaded", "broker", "brokers-3", "oracle"]) == OK
    lines = capsys.readouterr().out.splitlines()
    assert "VS ORACLE" in lines[1]
    rows = {line.split()[0]: line for line in lines[2:6]}
    assert set(rows) == {"least-loaded", "broker", "brokers-3", "oracle"}
    assert "ltsp-mesh broker" in rows["broker"] and "ltsp-mesh broker" in rows["brokers-3"]
    assert " bound " in rows["oracle"] and rows["oracle"].endswith("+0.0%")


def test_without_the_oracle_there_is_no_column_against_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--only", "broker"]) == OK
    assert "VS ORACLE" not in capsys.readouterr().out


def test_json_rows_carry_the_peak_over_the_oracles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--json", "--only", "broker", "oracle"]) == OK
    (scenario,) = json.loads(capsys.readouterr().out)["data"]["scenarios"]
    by_name = {r["contender"]: r for r in scenario["rows"]}
    assert by_name["oracle"]["kind"] == "bound" and by_name["oracle"]["peak_over_oracle"] == 0.0
    ratio = by_name["broker"]["peak_over_fair"] / by_name["oracle"]["peak_over_fair"] - 1
    assert by_name["broker"]["peak_over_oracle"] == pytest.approx(ratio)


def test_rudolfo_counts_broker_targets_in_its_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "sim",
            "rudolfo",
            "--json",
            "--only",
            "least-loaded",
            "broker",
            "brokers-3",
            "oracle",
            "ltsp-cluster",
        ]
    )
    envelope = json.loads(capsys.readouterr().out)
    found = envelope["data"]["targets"]
    assert [t["name"] for t in found if "broker" in t["name"]] == [
        "broker within 1% of the oracle",
        "broker better than least-loaded and every anchor",
        "brokers-3 within 3% of the oracle",
    ]
    assert envelope["ok"] == all(t["met"] for t in found) == (code == OK)


def test_csv_has_a_line_for_each_broker_mode_and_the_oracle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "margot", "--csv", "--only", "broker", "brokers-3", "oracle"]) == OK
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["contender"], r["kind"]) for r in rows] == [
        ("broker", "ltsp-mesh broker"),
        ("brokers-3", "ltsp-mesh broker"),
        ("oracle", "bound"),
    ]


def test_plan_takes_broker_mode_as_its_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "sim",
        "plan",
        "--clients",
        "200",
        "--server-capacity",
        "8",
        "--max-fill",
        "2.5",
        "--algorithm",
        "broker",
        "--json",
    ]
    assert main(args) == OK
    assert json.loads(capsys.readouterr().out)["data"]["contender"] == "broker"
