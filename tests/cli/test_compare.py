"""`edgebench compare`: the comparison printed, the regression gate's exit code, and bad input
refused in one line with exit 2 and nothing written."""
import json
import sqlite3

import pytest

from edgebench.cli.main import main
from tests.report.stored_runs import cell, snapshot, two_runs, write_run


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.sqlite"
    two_runs(path)
    return path


def test_compare_prints_each_cell_the_differences_and_the_unmatched(store, capsys):
    assert main(["compare", "a", "b", "--db", str(store)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith("test_cnn  pytorch"))
    assert "10.000" in row and "12.000\u2020" in row and row.endswith("slower") and "1.200x [" in row
    assert next(line for line in lines if "onnxruntime" in line).endswith("faster")
    assert next(line for line in lines if "openvino" in line).endswith("no significant change")
    assert next(line for line in lines if "tensorrt" in line).endswith("missing (build_failed)")
    assert "[2] vs [1]: 1 faster, 1 slower, 1 no significant change, 1 missing" in lines
    assert any(line.split() == ["torch", "2.3.0", "2.4.0"] for line in lines)
    assert "  [2] test_mlp pytorch fp32" in lines


def test_compare_json_is_one_document(store, capsys):
    assert main(["compare", "a", "b", "--db", str(store), "--json", "--fail-if-slower", "5%", "--judge-contended"]) == 1
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["labels"] == ["a", "b"] and len(d["cells"]) == 4 and d["gate"]["passed"] is False
    assert d["unmatched"] == [{"label": "b", "model": "test_mlp", "backend": "pytorch", "precision": "fp32"}]
    assert err.startswith("regression gate FAILED")


def test_gate_fails_naming_the_slower_cells(store, capsys):
    # b's pytorch cell is 20% slower, and contended: judged only when asked
    assert main(["compare", "a", "b", "--db", str(store), "--fail-if-slower", "5%", "--judge-contended"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("regression gate FAILED: 1 cell more than 5% slower than in a "
                      "(95% interval of the ratio wholly above 1.05):")
    assert err[1].startswith("  b: test_cnn pytorch fp32 batch 1: 1.200x [") and len(err) == 2
    assert main(["compare", "a", "b", "--db", str(store), "--fail-if-slower", "5%"]) == 0
    err = capsys.readouterr().err
    assert "regression gate passed" in err and "not judged (1)" in err and "b: test_cnn pytorch fp32 batch 1" in err


@pytest.mark.parametrize("threshold", ["25%", "0.25"])
def test_gate_passes_when_nothing_is_shown_slower_by_more(store, capsys, threshold):
    assert main(["compare", "a", "b", "--db", str(store), "--fail-if-slower", threshold]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "regression gate passed: no cell is shown to be more than 25% slower than in a"
    assert err[2].startswith("  b: test_cnn pytorch fp32 batch 1: 1.200x")  # slower, within the threshold


def test_gate_passes_a_faster_run(store, capsys):
    # b's onnxruntime is faster, its pytorch slower: compared the other way, a's pytorch is faster
    # and only onnxruntime (25% slower in a) can fail
    assert main(["compare", "b", "a", "--db", str(store), "--fail-if-slower", "30%"]) == 0
    assert main(["compare", "b", "a", "--db", str(store), "--fail-if-slower", "20%"]) == 1


def test_store_files_from_two_machines(tmp_path, capsys):
    desk, jetson = tmp_path / "desk.sqlite", tmp_path / "jetson.sqlite"
    write_run(desk, "d1", [cell("", "m", "pytorch", 10.0)])
    write_run(jetson, "j1", [cell("", "m", "pytorch", 30.0)], env={"target": "nano", "power_mode": "MAXN"})
    merged = tmp_path / "merged.sqlite"
    assert main(["store", "merge", str(merged), str(desk), str(jetson)]) == 0
    capsys.readouterr()
    assert main(["compare", str(desk), f"{jetson}:latest"]) == 0
    by_file = capsys.readouterr().out
    assert f"[2] {jetson}:j1" in by_file and "3.000x" in by_file
    assert main(["compare", "d1", "j1", "--db", str(merged)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["power", "mode", "-", "MAXN"] for line in lines)
    assert any(line.split() == ["target", "-", "nano"] for line in lines)


def _newer(path):
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()


def _bad(kind, tmp_path, store):
    """The compare arguments of one kind of bad input."""
    other = tmp_path / "other.sqlite"
    if kind == "no model in common":
        write_run(other, "o", [cell("", "resnet50", "pytorch", 1.0)])
        return ["a", str(other)], "runs"
    if kind == "newer schema":
        write_run(other, "o", [cell("", "test_cnn", "pytorch", 1.0)])
        _newer(other)
        return ["a", str(other)], "newer than this edgebench"
    if kind == "foreign store":
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE photos (id INTEGER)")
        return ["a", str(other)], "not an edgebench results store"
    if kind == "not a store":
        other.write_bytes(b"hello" * 1000)
        return ["a", str(other)], "not a readable edgebench results store"
    return {
        "unknown run id": (["a", "nope"], "run 'nope' is not in"),
        "unknown run in a store": (["a", f"{store}:nope"], "run 'nope' is not in"),
        "missing store": (["a", str(tmp_path / "gone.sqlite")], "no results store at"),
        "one run": (["a"], "at least two runs, got 1"),
        "no run": ([], "at least two runs, got 0"),
        "threshold not a number": (["a", "b", "--fail-if-slower", "lots"], "not 'lots'"),
        "threshold ambiguous": (["a", "b", "--fail-if-slower", "5"], "ambiguous"),
        "threshold negative": (["a", "b", "--fail-if-slower=-5%"], "non-negative"),
    }[kind]


@pytest.mark.parametrize("kind", ["no model in common", "newer schema", "foreign store", "not a store",
                                  "unknown run id", "unknown run in a store", "missing store", "one run", "no run",
                                  "threshold not a number", "threshold ambiguous", "threshold negative"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, store, capsys, kind):
    args, text = _bad(kind, tmp_path, store)
    before = snapshot(tmp_path)
    assert main(["compare", *args, "--db", str(store)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("edgebench: error:") and text in err and "Traceback" not in err
    assert snapshot(tmp_path) == before


def test_no_model_in_common_names_the_models(tmp_path, store, capsys):
    args, _ = _bad("no model in common", tmp_path, store)
    assert main(["compare", *args, "--db", str(store)]) == 2
    other = tmp_path / "other.sqlite"
    assert (f"runs {store}:a and {other}:o have no model in common ({store}:a: test_cnn; {other}:o: resnet50)"
            in capsys.readouterr().err)


def test_the_console_script_exits_1_when_the_gate_fails(store):
    from tests.cli import run_cli

    done = run_cli("compare", "a", "b", "--db", str(store), "--fail-if-slower", "5%", "--judge-contended", timeout=120)
    assert done.returncode == 1 and "regression gate FAILED" in done.stderr and "slower" in done.stdout


def test_compare_html_writes_the_side_by_side_page(store, tmp_path, capsys):
    page = tmp_path / "cmp" / "compare.html"
    assert main(["compare", "a", "b", "--db", str(store), "--html", str(page)]) == 0
    _, err = capsys.readouterr()
    html = page.read_text()
    assert f"wrote {page}" in err and "<svg" in html and "test_cnn" in html and "build_failed" in html
    assert "<script src" not in html and "<link" not in html  # one file, nothing fetched
