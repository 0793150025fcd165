"""`gankit serve` through FastAPI's test client: the API over every kind of served run, permalinks (a seed
gives its samples back), dynamic batching (one network call for concurrent requests, each request's samples
unchanged), uploads checked before decoding, the token, and bad requests answered with a JSON 4xx while the
server keeps serving. The page itself is driven in a real browser in test_serve_browser.py."""

import asyncio
import io
import struct
import zlib

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import GankitError
from gankit.serve import build_app, check_binding
from gankit.serve.runs import png_bytes


@pytest.fixture(scope="module")
def app(serve_runs):
    return build_app([f"{name}={path}" for name, path in serve_runs.items()])


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def png(width=40, height=30, seed=0) -> bytes:
    """A picture of random pixels (texture, so that style statistics mean something)."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def huge_png_header(side=20_000) -> bytes:
    """A small file that claims side x side pixels: its header is all a decompression bomb needs."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\x00" + b"\x00" * side
    idat = zlib.compress(row * 4)  # a few rows are enough for the header to be read
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_runs_are_listed_with_the_controls_their_models_have(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"digits", "ring", "hospitals", "style", "faces"}
    faces = runs["faces"]["controls"]
    assert faces["truncation"] and faces["mixing"] == ["coarse", "fine"] and runs["faces"]["export"]
    assert not runs["digits"]["controls"]["truncation"] and not runs["digits"]["controls"]["mixing"]
    digits, ring, tables, style = runs["digits"]["controls"], runs["ring"]["controls"], runs["hospitals"]["controls"], \
        runs["style"]["controls"]
    assert digits["classes"] == [str(i) for i in range(10)] and digits["ema"] and runs["digits"]["export"]
    assert ring["scatter"] and not ring["classes"] and runs["ring"]["kind"] == "points"
    assert tables["table"] and tables["domains"] == ["small", "medium", "large"] and tables["classes"] == ["benign", "malignant"]
    assert style["stylize"] and not style["classes"] and not runs["style"]["export"]
    assert client.get("/openapi.json").json()["paths"]["/api/runs/{run}/sample.png"]["get"]


def test_a_seed_gives_its_samples_back_and_equals_the_pipeline(client, serve_runs):
    first = client.get("/api/runs/digits/sample.png?seed=7&n=4&class=3")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.headers["x-gankit-seed"] == "7"
    assert client.get("/api/runs/digits/sample.png?seed=7&n=4&class=3").content == first.content
    assert client.get("/api/runs/digits/sample.png?seed=8&n=4&class=3").content != first.content
    assert client.get("/api/runs/digits/sample.png?seed=7&n=4&class=4").content != first.content
    assert client.get("/api/runs/digits/sample.png?seed=7&n=4&class=3&ema=false").content != first.content
    served = client.app.state.runs["digits"]
    expected = png_bytes(served, gankit.load(serve_runs["digits"])(4, condition=3, seed=7))
    assert np.abs(pixels(first.content) - pixels(expected)).max() <= 1  # the same samples as the Python API
    fresh = client.get("/api/runs/digits/sample.png")  # no seed: a fresh one, reported
    assert int(fresh.headers["x-gankit-seed"]) >= 0


def test_truncation_and_style_mixing_of_a_style_based_run(client, serve_runs):
    truncated = client.get("/api/runs/faces/sample.png?seed=3&n=4&truncation=0.5")
    assert truncated.status_code == 200
    assert truncated.content != client.get("/api/runs/faces/sample.png?seed=3&n=4").content
    expected = png_bytes(client.app.state.runs["faces"], gankit.load(serve_runs["faces"])(4, seed=3, truncation=0.5))
    assert np.abs(pixels(truncated.content) - pixels(expected)).max() <= 1
    body = client.get("/api/runs/faces/sample?seed=3&n=4&truncation=0.5").json()
    assert body["truncation"] == 0.5 and "truncation=0.5" in body["permalink"]
    grid = client.get("/api/runs/faces/mix.png?rows=0,1&cols=2,3,4&layers=coarse")
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    width, height = Image.open(io.BytesIO(grid.content)).size
    assert width / height == pytest.approx(4 / 3, rel=0.05)  # 1 + 3 columns, 1 + 2 rows
    assert client.get("/api/runs/faces/mix.png?rows=0,1&cols=2,3,4&layers=fine").content != grid.content


def test_json_answers_name_the_seed_and_options_with_a_permalink(client):
    body = client.get("/api/runs/digits/sample?seed=11&n=2&class=5").json()
    assert body["seed"] == 11 and body["n"] == 2 and body["class"] == 5
    assert body["permalink"] == "/runs/digits?seed=11&n=2&class=5"
    assert client.get(body["png"]).content == client.get("/api/runs/digits/sample.png?seed=11&n=2&class=5").content
    posted = client.post("/api/runs/digits/sample", json={"seed": 11, "n": 2, "class": 5}).json()
    assert posted == body
    drawn = client.get("/api/runs/digits/sample").json()  # no seed: the server draws one and says which
    assert 0 <= drawn["seed"] < 2**31


def test_tables_come_as_rows_and_csv_with_their_labels(client):
    body = client.get("/api/runs/hospitals/sample?seed=3&n=6&domain=medium&class=1").json()
    assert body["columns"][-1] == "diagnosis" and len(body["rows"]) == 6
    assert {row[-1] for row in body["rows"]} == {"malignant"}
    text = client.get("/api/runs/hospitals/sample.csv?seed=3&n=6&domain=medium&class=1").text
    lines = text.strip().splitlines()
    assert lines[0].split(",") == body["columns"] and len(lines) == 7
    small = client.get("/api/runs/hospitals/sample?seed=3&n=6").json()  # another domain: its own columns
    assert small["columns"] != body["columns"] and {r[-1] for r in small["rows"]} == {"benign", "malignant"}


def test_points_come_as_a_scatter_and_csv(client):
    scatter = client.get("/api/runs/ring/sample.png?seed=1&n=500")
    assert scatter.status_code == 200 and Image.open(io.BytesIO(scatter.content)).size[0] > 200
    rows = client.get("/api/runs/ring/sample.csv?seed=1&n=5").text.strip().splitlines()
    assert rows[0] == "x0,x1" and len(rows) == 6


def test_concurrent_requests_share_one_network_call_and_keep_their_samples(serve_runs):
    app = build_app([f"digits={serve_runs['digits']}"], window_ms=200)
    asks = [f"/api/runs/digits/sample.png?seed={s}&n=2&class={s % 10}" for s in range(8)]

    async def fetch_all():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*[c.get(url) for url in asks])

    together = asyncio.run(fetch_all())
    stats = app.state.batchers["digits"]
    assert stats.requests == 8 and stats.calls < 8  # batched: fewer network calls than requests
    with TestClient(build_app([f"digits={serve_runs['digits']}"], window_ms=0)) as alone:
        for url, response in zip(asks, together):
            assert np.abs(pixels(response.content) - pixels(alone.get(url).content)).max() <= 1


def test_batched_sampling_equals_one_request_at_a_time(serve_runs):
    pipe = gankit.load(serve_runs["digits"])
    asks = [(3, 5, 2), (1, 9, None), (4, 2, 7)]
    batched = pipe.many(asks, ema=True)
    for (n, seed, condition), got in zip(asks, batched):
        alone = pipe(n, condition=condition, seed=seed, ema=True).data
        assert got.data.shape == alone.shape and torch.allclose(got.data, alone, atol=1e-5)
        assert got.meta["seed"] == seed


def test_style_transfer_of_uploads(client, serve_runs, monkeypatch):
    content, style = png(48, 32), png(20, 20, seed=1)
    recipe = client.app.state.runs["style"].recipe
    seen, sample = [], recipe.sample
    monkeypatch.setattr(recipe, "sample", lambda *a, **kw: seen.append(kw) or sample(*a, **kw))
    answer = client.post("/api/runs/style/stylize", files={"content": ("c.png", content), "style": ("s.png", style)},
                         data={"alpha": "0.5"})
    assert answer.status_code == 200 and answer.headers["x-gankit-alpha"] == "0.5"
    assert Image.open(io.BytesIO(answer.content)).size == (48, 32)  # the content's size
    assert seen[-1]["alpha"] == 0.5 and seen[-1]["condition"]["content"].shape == (1, 3, 32, 48)
    as_tensor = lambda data: torch.from_numpy(pixels(data).astype(np.float32) / 255).permute(2, 0, 1)[None]
    expected = gankit.load(serve_runs["style"])(1, condition={"content": as_tensor(content), "styles": [as_tensor(style)]},
                                                alpha=0.5).data
    got = torch.from_numpy(pixels(answer.content).astype(np.float32)).permute(2, 0, 1)[None]
    assert (got - expected * 255).abs().max() <= 1  # what the Python API gives for the same pictures


def test_onnx_download_runs_in_onnxruntime(client):
    answer = client.get("/api/runs/digits/export.onnx")
    assert answer.status_code == 200
    session = ort.InferenceSession(answer.content)
    z = np.random.default_rng(0).standard_normal((3, session.get_inputs()[0].shape[1])).astype(np.float32)
    out = session.run(None, {"z": z, "y": np.array([0, 1, 2], dtype=np.int64)})[0]
    assert out.shape == (3, 1, 16, 16)
    assert client.get("/api/runs/style/export.onnx").status_code == 404


@pytest.fixture(scope="module")
def media(media_runs):
    with TestClient(build_app([f"{name}={path}" for name, path in media_runs.items()])) as c:
        yield c


def test_a_prompt_draws_images_of_its_sentence(media, media_runs):
    runs = {r["name"]: r["controls"] for r in media.get("/api/runs").json()["runs"]}
    assert runs["words"]["prompt"] and not runs["chorus"]["prompt"] and runs["chorus"]["music"]
    text = "a small red circle at the top"
    answer = media.get("/api/runs/words/sample.png", params={"text": text, "n": 4, "seed": 2})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    expected = png_bytes(media.app.state.runs["words"], gankit.load(media_runs["words"])(4, condition=text, seed=2))
    assert np.abs(pixels(answer.content) - pixels(expected)).max() <= 1  # what the Python API draws for it
    other = media.get("/api/runs/words/sample.png", params={"text": "a large blue square at the bottom", "n": 4,
                                                            "seed": 2})
    assert other.status_code == 200 and other.content != answer.content
    body = media.post("/api/runs/words/sample", json={"text": text, "n": 4, "seed": 2}).json()
    assert body["text"] == text and media.get(body["png"]).content == answer.content
    assert body["permalink"] == "/runs/words?seed=2&n=4&text=a+small+red+circle+at+the+top"


@pytest.mark.parametrize("run,text,reason", [
    ("words", "", "the prompt is empty: type a sentence"),
    ("words", "   ", "the prompt is empty"),
    ("words", "a circle " * 100, "the prompt is too long: 899 characters, at most 500"),
    ("chorus", "a tune", "is not conditioned on text"),
])
def test_an_empty_or_too_long_prompt_is_a_one_line_4xx(media, run, text, reason):
    for answer in (media.get(f"/api/runs/{run}/sample.png", params={"text": text}),
                   media.post(f"/api/runs/{run}/sample", json={"text": text})):
        assert answer.status_code == 400 and answer.json() == {"error": answer.json()["error"], "status": 400}
        assert reason in answer.json()["error"] and "\n" not in answer.text and "Traceback" not in answer.text
    assert media.get("/api/runs/words/sample.png", params={"text": "a green cross"}).status_code == 200


def test_a_prompt_past_the_text_encoders_limit_is_refused_before_sampling(media, monkeypatch):
    from gankit.data.text import HashEncoder

    monkeypatch.setattr(HashEncoder, "max_tokens", 3)
    answer = media.get("/api/runs/words/sample.png", params={"text": "a small red circle"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "the prompt is too long: this run's text encoder reads at most 3 tokens"


@pytest.mark.parametrize("run", ["chorus", "melody"])
def test_music_runs_play_and_download_their_midi(media, media_runs, run, tmp_path):
    import mido

    body = media.get(f"/api/runs/{run}/sample?seed=4&n=2").json()
    assert len(body["songs"]) == 2 and body["songs"][1]["mid"].endswith("index=1")
    midi = media.get(body["songs"][1]["mid"])
    assert midi.status_code == 200 and midi.headers["content-type"] == "audio/midi"
    assert midi.headers["content-disposition"] == f'attachment; filename="{run}-4-1.mid"'
    song = mido.MidiFile(file=io.BytesIO(midi.content))
    assert sum(m.type == "note_on" and m.velocity > 0 for track in song.tracks for m in track) > 0
    written = gankit.load(media_runs[run]).write(gankit.load(media_runs[run])(2, seed=4), tmp_path / "songs")
    assert midi.content == (tmp_path / "songs" / "sample-001.mid").read_bytes()  # as `gankit sample` writes it
    wav = media.get(body["songs"][1]["wav"])
    assert wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF" and len(written) == 6
    roll = media.get(body["songs"][1]["png"])
    assert roll.headers["content-type"] == "image/png" and Image.open(io.BytesIO(roll.content)).size[0] > 100
    assert media.get(body["png"]).headers["content-type"] == "image/png"  # both pianorolls side by side
    for url, status, reason in [(f"/api/runs/{run}/song.mid?n=2&index=2", 422, "index: one of the n=2 samples"),
                                (f"/api/runs/{run}/song.ogg", 422, "kind"),
                                ("/api/runs/words/song.mid", 400, "not music"),
                                (f"/api/runs/{run}/song.mid?n=9", 422, "at most 8")]:
        answer = media.get(url)
        assert answer.status_code == status and reason in answer.json()["error"], answer.text


BAD = [
    ("get", "/api/runs/nope/sample.png", {}, 404, "no run named 'nope'"),
    ("get", "/api/runs/..%2F..%2Fetc%2Fpasswd/sample.png", {}, 404, ""),
    ("get", "/runs/..%2F..%2Fetc%2Fpasswd", {}, 404, ""),
    ("get", "/api/runs/digits/sample.png?n=-1", {}, 422, "n: "),
    ("get", "/api/runs/digits/sample.png?n=100000", {}, 422, "at most 64"),
    ("get", "/api/runs/digits/sample.png?n=abc", {}, 422, "valid integer"),
    ("get", "/api/runs/digits/sample.png?seed=-4", {}, 422, "seed"),
    ("get", "/api/runs/digits/sample.png?seed=99999999999", {}, 422, "seed"),
    ("get", "/api/runs/digits/sample.png?class=10", {}, 400, "class must lie in 0..9"),
    ("get", "/api/runs/ring/sample.png?class=1", {}, 400, "cannot be asked for a class"),
    ("get", "/api/runs/digits/sample.png?ema=perhaps", {}, 422, "ema"),
    ("get", "/api/runs/hospitals/sample?domain=mars", {}, 400, "domain must be one of"),
    ("get", "/api/runs/hospitals/sample.png", {}, 400, "sample.csv"),
    ("get", "/api/runs/digits/sample.csv", {}, 400, "sample.png"),
    ("get", "/api/runs/ring/sample.png?n=6000", {}, 422, "at most 5000"),
    ("post", "/api/runs/digits/sample", {"json": {"n": "many"}}, 422, "n"),
    ("post", "/api/runs/digits/sample", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, ""),
    ("get", "/static/../../etc/passwd", {}, 404, ""),
    ("get", "/api/runs/digits/sample.png?truncation=0.5", {}, 400, "has no truncation option"),
    ("get", "/api/runs/faces/sample.png?truncation=1.5", {}, 422, "truncation"),
    ("get", "/api/runs/digits/mix.png", {}, 400, "no W space"),
    ("get", "/api/runs/faces/mix.png?rows=a,b", {}, 422, "rows: 1 to 8"),
    ("get", "/api/runs/faces/mix.png?cols=0,1,2,3,4,5,6,7,8", {}, 422, "cols: 1 to 8"),
    ("get", "/api/runs/faces/mix.png?layers=0-99", {}, 400, "style layers 0..5"),
    ("get", "/api/runs/faces/mix.png?layers=middle", {}, 400, "no middle layers"),
    ("post", "/api/runs/digits/stylize", {"files": {"content": ("c.png", png()), "style": ("s.png", png())}}, 400,
     "does not stylize"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("c.png", png())}}, 422, "style"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("c.png", png()), "style": ("s.png", png())},
                                         "data": {"alpha": "2"}}, 422, "alpha"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("big.png", huge_png_header()), "style": ("s.png", png())}},
     413, "pixels"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("notes.png", b"just some text, not a picture\n"),
                                                   "style": ("s.png", png())}}, 415, "content: not an image"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("c.png", png()[:60]), "style": ("s.png", png())}}, 400,
     "damaged or truncated"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("c.png", b""), "style": ("s.png", png())}}, 400, "empty"),
    ("post", "/api/runs/style/stylize", {"files": {"content": ("c.png", b"\x00" * (8 * 2**20 + 1)),
                                                   "style": ("s.png", png())}}, 413, "more than the limit of"),
    ("post", "/api/runs/style/stylize", {"content": b"\x00" * (17 * 2**20), "headers": {"content-type": "multipart/form-data; boundary=x"}},
     413, "a request body is at most"),
]


@pytest.mark.parametrize("method,url,kwargs,status,reason", BAD, ids=[f"{m}-{i}" for i, (m, *_) in enumerate(BAD)])
def test_bad_requests_get_a_json_4xx_and_the_server_keeps_serving(client, method, url, kwargs, status, reason):
    answer = getattr(client, method)(url, **kwargs)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == status and reason in body["error"] and "Traceback" not in answer.text
    assert client.get("/api/runs/digits/sample.png?seed=1").status_code == 200


def test_a_token_guards_every_request_but_the_static_files(serve_runs):
    app = build_app([f"ring={serve_runs['ring']}"], token="s3cret")
    with TestClient(app) as c:
        for url in ("/", "/api/runs", "/api/runs/ring/sample.png", "/runs/ring"):
            answer = c.get(url)
            assert answer.status_code == 401 and "token" in answer.json()["error"]
        assert c.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/static/serve.js").status_code == 200
        assert c.get("/runs/ring?token=s3cret").status_code == 200  # the page visit sets the cookie ...
        assert c.get("/api/runs/ring/sample.png?seed=1").status_code == 200  # ... its images carry it


def test_only_this_machine_is_served_without_a_token():
    check_binding("127.0.0.1", None)
    check_binding("localhost", None)
    check_binding("::1", None)
    with pytest.raises(GankitError, match="--host 0.0.0.0 is reachable from other machines: pass --token"):
        check_binding("0.0.0.0", None)
    check_binding("0.0.0.0", "t")


@pytest.mark.parametrize("args,reason", [
    (["serve", "RUN", "--host", "0.0.0.0"], "pass --token"),
    (["serve", "no/such/run"], "no such run folder"),
    (["serve", "bad name=RUN"], "a run name is letters"),
])
def test_cli_refuses_with_one_line(args, reason, serve_runs, capsys, monkeypatch):
    monkeypatch.delenv("GANKIT_SERVE_TOKEN", raising=False)
    args = [str(serve_runs["ring"]) if a == "RUN" else a.replace("RUN", str(serve_runs["ring"])) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


def test_cli_port_out_of_range_is_a_usage_error(serve_runs, capsys):
    assert main(["serve", str(serve_runs["ring"]), "--port", "70000"]) == 2
    assert "1..65535" in capsys.readouterr().err
