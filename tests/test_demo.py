import gankit.demo as demo


def test_demo_runs_end_to_end_with_a_tiny_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "EVAL_SAMPLES", 200)
    # fp32: the demo's precision=auto trial (seconds where bf16 is emulated) is tested in test_core.py
    assert demo.run_demo(out=tmp_path, minutes=0.02, progress=False, overrides={"precision": "fp32"}) == 0
    out = capsys.readouterr().out
    run = tmp_path / "dcgan-mnist5k-000"
    for f in ("samples/final.png", "report.html", "report.md", "metrics.jsonl", "checkpoints/latest.json"):
        assert (run / f).exists(), f
    assert "of 10 classes among its 100 samples" in out and "FID" in out and "report.html" in out
