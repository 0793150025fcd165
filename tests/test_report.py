import re

from gankit.cli import main


def test_report_renders_from_a_smoke_run(tmp_path, capsys):
    assert main(["train", "wgan-gp", "--data", "ring8", "--preset", "smoke", "--steps", "4", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    run = tmp_path / "wgan-gp-ring8-000"
    assert main(["report", str(run)]) == 0
    md = (run / "report.md").read_text()
    page = (run / "report.html").read_text()
    assert "# wgan-gp on ring8" in md and "## Losses" in md and "samples/step-0000004.png" in md
    for link in re.findall(r"\]\(([^)]+)\)", md):
        assert (run / link).exists(), link
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") >= 5
    assert not re.search(r'src="(?!data:)', page)  # self-contained: no external pictures
    assert "Health warnings" in page


def test_report_lists_warnings(tmp_path):
    assert main(["train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "3", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    run = tmp_path / "gan-ring8-000"
    (run / "warnings.jsonl").write_text('{"step": 2, "key": "dominance", "message": "the discriminator dominates <x>"}\n')
    assert main(["report", str(run)]) == 0
    assert "step 2: the discriminator dominates &lt;x&gt;" in (run / "report.html").read_text()
    assert "- step 2: the discriminator dominates <x>" in (run / "report.md").read_text()


def test_report_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a gankit run" in capsys.readouterr().err
