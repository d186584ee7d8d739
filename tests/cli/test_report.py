"""`edgebench report`: re-rendering a stored `run` without re-running it, and listing runs."""
from edgebench import __version__
from edgebench.cli.main import main
from edgebench.results.store import Store
from tests.cli import FAST
from tests.report import RUN, records


def test_run_then_report_rerenders_without_rerun(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", "--models", "test_cnn,test_mlp", "--backends", "pytorch,onnxruntime", "--device", "cpu",
                 "--out", str(out), "--no-isolate", *FAST]) == 0
    printed, err = capsys.readouterr()
    assert "mean speedup" in printed and "test_mlp" in printed
    # stderr is no terminal here: one line per finished cell, with the time left
    cells = [line for line in err.splitlines() if line.startswith("[")]
    assert [c.split("]")[0] for c in cells] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert all("elapsed, about" in c and c.endswith("left)") for c in cells) and "about 0 s left" in cells[-1]
    first = (out / "table1.md").read_text()
    page = (out / "table1.html").read_text()  # `run` writes the HTML report beside Table 1
    for name in ("table1.md", "table1.csv", "table1.json", "figure4_speedup.png", "table1.html"):
        (out / name).unlink()
    assert main(["report", "--db", str(out / "edgebench.sqlite")]) == 0
    assert (out / "table1.md").read_text() == first  # a pure function of the stored records
    assert (out / "table1.html").read_text() == page
    assert (out / "figure4_speedup.png").is_file()
    assert main(["report", "--db", str(out / "edgebench.sqlite"), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "finished" in listed and __version__ in listed  # each run names the edgebench that measured it


def _store(folder):
    """A store holding tests.report's run, as `run` would have left it."""
    folder.mkdir()
    with Store(folder / "edgebench.sqlite") as store:
        store.begin_run(RUN)
        for rec in records():
            store.add(rec)
    return folder / "edgebench.sqlite"


def test_report_html_writes_only_the_self_contained_page(tmp_path, capsys):
    db = _store(tmp_path / "res")
    assert main(["report", "--db", str(db), "--html"]) == 0
    assert [p.name for p in db.parent.iterdir() if not p.name.startswith("edgebench.sqlite")] == ["table1.html"]
    printed = capsys.readouterr().out
    assert "mean speedup" in printed and f"wrote {db.parent / 'table1.html'} (" in printed
    assert "KiB, self-contained: opens offline)" in printed
    mail = tmp_path / "mail" / "r1.html"
    mail.parent.mkdir()  # a named file goes into a folder that exists (none is made: see below)
    assert main(["report", "--db", str(db), "--html", str(mail)]) == 0
    assert mail.read_text() == (db.parent / "table1.html").read_text()
    assert sorted(p.name for p in mail.parent.iterdir()) == ["r1.html"]


def test_report_html_into_a_missing_folder_is_refused_and_makes_no_folder(tmp_path, capsys):
    db = _store(tmp_path / "res")
    target = tmp_path / "missing" / "x.html"
    assert main(["report", "--db", str(db), "--html", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing" in err and "does not exist" in err, err
    assert not (tmp_path / "missing").exists()
