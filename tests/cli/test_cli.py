"""The command line's contract: exit codes, one-line errors, JSON envelopes, config messages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ltsp_mesh import __version__
from ltsp_mesh.cli import main
from ltsp_mesh.cli.exit_codes import FAILED, USAGE


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["teleport"])
    assert exit_info.value.code == USAGE


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "no server answered" in capsys.readouterr().out


def test_bad_option_value_is_one_line_on_stderr_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    # A value that is bad only beside another (each alone is in range: that is argparse's, exit 2).
    assert main(["status", "--browse-ms", "500", "--timeout-ms", "400"]) == FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "--browse-ms=500" in captured.err


def test_out_of_range_value_is_a_usage_error_naming_option_value_and_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["hosts", "--timeout-ms", "5"])
    assert exit_info.value.code == USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == (
        "ltsp-mesh hosts: error: argument --timeout-ms: 5 is out of range (10 to 60000 ms)"
    )


def test_error_under_json_is_still_an_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json", "--browse-ms", "500", "--timeout-ms", "400"]) == FAILED
    envelope = json.loads(capsys.readouterr().out)
    assert envelope["ltsp_mesh_result_version"] == 1
    assert envelope["ok"] is False
    assert envelope["exit_code"] == FAILED
    assert "--browse-ms" in envelope["error"]


def test_unknown_interface_names_the_ones_that_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--interface", "nosuchif0"]) == FAILED
    err = capsys.readouterr().err
    assert "'nosuchif0' does not exist" in err
    assert "lo" in err


def _serve(tmp_path: Path, conf: str, *extra: str) -> int:
    path = tmp_path / "mesh.conf"
    path.write_text(conf)
    return main(["serve", "--config", str(path), *extra])


def test_serve_names_the_file_and_line_of_a_bad_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _serve(tmp_path, "[default]\n  CAPACITY = lots\n") == FAILED
    err = capsys.readouterr().err
    assert "mesh.conf line 2" in err and "CAPACITY='lots'" in err


def test_serve_refuses_an_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _serve(tmp_path, "[default]\nCAPACTIY = 4\n") == FAILED
    assert "unknown key CAPACTIY" in capsys.readouterr().err


def test_serve_names_a_bad_port_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _serve(tmp_path, "[default]\n", "--query-port", "70000") == FAILED
    assert "--query-port: QUERY_PORT='70000'" in capsys.readouterr().err


def test_serve_refuses_a_config_file_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--config", str(tmp_path / "absent.conf")]) == FAILED
    assert "does not exist" in capsys.readouterr().err


def test_serve_reports_an_unterminated_quote_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _serve(tmp_path, '[default]\n# comment\nINTERFACES = "eth0\n') == FAILED
    assert "line 3" in capsys.readouterr().err


def test_serve_refuses_a_nonsense_sample_interval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--sample-interval", "0"])
    assert exit_info.value.code == USAGE
    assert "--sample-interval" in capsys.readouterr().err


def test_browse_refuses_a_negative_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["browse", "--duration", "-1"])
    assert exit_info.value.code == USAGE
    assert "--duration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "module"),
    [(["demo"], "ltsp_mesh.lab.scenes"), (["bench", "trust"], "ltsp_mesh.lab.bench.trust")],
)
def test_lab_commands_without_the_lab_say_where_it_lives(
    argv: list[str], module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as in the Debian package, which leaves the lab out
    assert main(argv) == FAILED
    err = capsys.readouterr().err
    assert "ships with the source, not the Debian package" in err and "Traceback" not in err
