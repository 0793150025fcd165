"""The web application: pages (plain HTML, CSS and JavaScript shipped in gankit/assets/serve, nothing from a
CDN) and a JSON/PNG API over the served runs (`create_app`). OpenAPI schema at /openapi.json.

    GET  /api/runs                              the served runs and their controls
    GET  /api/runs/{run}                        one of them
    GET  /api/runs/{run}/sample.png?seed=&n=&class=&ema=&domain=&truncation=&text=   a grid (images; text=: the
                                                prompt of a text-conditioned run), a scatter or pianorolls
    GET  /api/runs/{run}/mix.png?rows=&cols=&layers=                 a style-mixing grid (style-based runs)
    GET  /api/runs/{run}/sample.csv?...         rows (tables, points)
    GET  /api/runs/{run}/sample?...             JSON: the seed and options used, a permalink, rows for tables,
                                                links to each song's files for music
    POST /api/runs/{run}/sample                 the same, the options in a JSON body
    GET  /api/runs/{run}/song.mid?...&index=    music: sample `index` as MIDI (song.wav: rendered, song.png: its
                                                pianoroll), the files `gankit sample RUN --out songs/` writes
    POST /api/runs/{run}/stylize                multipart content + style images, form field alpha: a PNG
    GET  /api/runs/{run}/export.onnx            `gankit export`'s ONNX file of the run's generator
    GET  /api/stats                             network calls and requests per run (the batching's effect)

Every error is a JSON body {"error": reason, "status": code}; a token, when set, is checked on every request
but the static files (header `Authorization: Bearer T`, `?token=T` or the cookie a page visit with it sets).
"""

import asyncio
import contextlib
import hmac
import random
import tempfile
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GankitError
from .batching import Batcher
from .runs import ServedRun, csv_text, grid_png, json_rows, png_bytes, song_files
from .uploads import MAX_BYTES, decode_image

SEED_MAX = 2**31 - 1
STATIC = {"serve.js": "text/javascript", "serve.css": "text/css"}
SONG_TYPES = {"mid": "audio/midi", "wav": "audio/wav", "png": "image/png"}
COOKIE = "gankit_token"
MAX_REQUEST_BYTES = 2 * MAX_BYTES + 2**16  # a content and a style image, and the form around them


class SampleBody(BaseModel):
    """What a sample request asks: the POST body, and the GET endpoints' query parameters (`asked`)."""
    model_config = ConfigDict(populate_by_name=True)

    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    n: int = Field(1, ge=1)
    cls: int | None = Field(None, alias="class")
    ema: bool | None = None
    domain: str | None = None
    truncation: float | None = Field(None, ge=0.0, le=1.0)
    text: str | None = None


MIX_SEEDS = 8  # at most this many rows and columns in a served mixing grid


def mix_seeds(text: str, what: str) -> list[int]:
    """'1,2,3' -> seeds for a mixing grid (1 to MIX_SEEDS of them, each in [0, SEED_MAX])."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MIX_SEEDS or not all(p.isdigit() and int(p) <= SEED_MAX for p in parts):
        raise HTTPException(422, f"{what}: 1 to {MIX_SEEDS} comma-separated seeds in 0..{SEED_MAX}")
    return [int(p) for p in parts]


def error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason, "status": status}, status_code=status)


def asset(name: str) -> str:
    return resources.files("gankit").joinpath("assets", "serve", name).read_text()


def create_app(runs: dict[str, ServedRun], token: str | None = None, window: float = 0.005,
               max_samples: int = 64) -> FastAPI:
    batchers = {name: Batcher(run.pipe, window, max_samples) for name, run in runs.items()}
    export_dir = tempfile.TemporaryDirectory(prefix="gankit-serve-")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for batcher in batchers.values():
            batcher.close()
        export_dir.cleanup()

    app = FastAPI(title="gankit serve", docs_url=None, redoc_url=None,  # the docs pages load from a CDN
                  description="Samples of trained gankit runs", lifespan=lifespan)
    app.state.runs, app.state.batchers = runs, batchers

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, e):
        return error(e.status_code, str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(GankitError)
    async def bad_request(request, e):
        return error(400, str(e))

    @app.exception_handler(Exception)
    async def internal(request, e):  # never a stack trace in a response
        return error(500, f"internal error ({type(e).__name__})")

    @app.middleware("http")
    async def limit_size(request: Request, call_next):
        """Refuse an oversized body by its declared length, before it is received and spooled."""
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            return error(413, f"a request body is at most {MAX_REQUEST_BYTES} bytes (two {MAX_BYTES}-byte images)")
        return await call_next(request)

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if token is None or request.url.path.startswith("/static/"):
            return await call_next(request)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or \
            request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error(401, "a token is required: send `Authorization: Bearer TOKEN` or open the page with "
                              "?token=TOKEN")
        response = await call_next(request)
        if request.query_params.get("token"):  # a page visit with ?token=: its images carry the cookie
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    def find(run: str) -> ServedRun:
        if run not in runs:  # names are looked up in the served set only: no path is ever built from them
            raise HTTPException(404, f"no run named {run!r}; served: {', '.join(runs)}")
        return runs[run]

    def settle(run: ServedRun, ask: SampleBody) -> tuple[int, object, dict]:
        """Check a request against the run (n, class, options) and fix its seed: (seed, condition, options)."""
        if ask.n > run.max_n:
            raise HTTPException(422, f"n: at most {run.max_n} {run.kind} samples per request")
        condition, options = run.condition(ask.cls, ask.n, ask.text), run.options(ask.ema, ask.domain, ask.truncation)
        return random.randrange(SEED_MAX) if ask.seed is None else ask.seed, condition, options

    async def draw(run: ServedRun, ask: SampleBody):
        seed, condition, options = settle(run, ask)
        return await batchers[run.name].sample(ask.n, seed, condition, **options), seed

    def values(ask: SampleBody, seed: int) -> dict:
        return {"seed": seed, "n": ask.n, "class": ask.cls, "ema": ask.ema, "domain": ask.domain,
                "truncation": ask.truncation, "text": ask.text}

    def query(ask: SampleBody, seed: int) -> str:
        return urlencode({k: v for k, v in values(ask, seed).items() if v is not None})

    def used(run: ServedRun, ask: SampleBody, seed: int) -> dict:
        q = query(ask, seed)
        return {"run": run.name, **values(ask, seed), "step": run.pipe.step, "permalink": f"/runs/{run.name}?{q}",
                "png": f"/api/runs/{run.name}/sample.png?{q}" if run.kind != "table" else None,
                "csv": f"/api/runs/{run.name}/sample.csv?{q}" if run.kind != "image" else None}

    def songs(run: ServedRun, ask: SampleBody, seed: int) -> dict:
        """Music: each sample's MIDI, WAV and pianoroll links."""
        if not run.music:
            return {}
        base = f"/api/runs/{run.name}/song"
        return {"songs": [{kind: f"{base}.{kind}?{query(ask, seed)}&index={i}" for kind in SONG_TYPES}
                          for i in range(ask.n)]}

    def asked(seed: int | None = Query(None, ge=0, le=SEED_MAX, description="the same seed gives the same samples"),
              n: int = Query(1, ge=1, description="how many samples (bounded per kind of data)"),
              cls: int | None = Query(None, alias="class", ge=0, description="a class, for conditional runs"),
              ema: bool | None = Query(None, description="sample G_ema (true) or G (false)"),
              domain: str | None = Query(None, max_length=100, description="the domain to sample (multi-domain tables)"),
              truncation: float | None = Query(None, ge=0.0, le=1.0, description="truncation ψ (style-based runs)"),
              text: str | None = Query(None, description="a sentence to draw (text-conditioned runs)"),
              ) -> SampleBody:
        """The query parameters of the GET sample endpoints, as the POST body reads them."""
        return SampleBody(seed=seed, n=n, cls=cls, ema=ema, domain=domain, truncation=truncation, text=text)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return asset("index.html")

    @app.get("/runs/{run}", response_class=HTMLResponse, include_in_schema=False)
    def page(run: str):
        find(run)
        return asset("run.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(asset(name), media_type=STATIC[name])

    @app.get("/api/runs")
    def list_runs() -> dict:
        return {"runs": [run.info() for run in runs.values()]}

    @app.get("/api/runs/{run}")
    def run_info(run: str) -> dict:
        return find(run).info()

    @app.get("/api/runs/{run}/sample.png", response_class=Response)
    async def sample_png(run: str, ask: SampleBody = Depends(asked)):
        served = find(run)
        if served.kind == "table":
            raise HTTPException(400, f"run {run} samples table rows: ask for sample.csv or sample")
        samples, seed = await draw(served, ask)
        data = await asyncio.to_thread(png_bytes, served, samples)  # encoding off the event loop
        return Response(data, media_type="image/png", headers=sample_headers(seed, ask.n))

    @app.get("/api/runs/{run}/mix.png", response_class=Response)
    async def mix_png(run: str, rows: str = Query("0,1,2", max_length=100, description="seeds of source A"),
                      cols: str = Query("3,4,5", max_length=100, description="seeds of source B"),
                      layers: str = Query("coarse", max_length=20, description="B's layers: coarse, middle, fine, A-B")):
        """The style-mixing grid (StyleGAN Fig. 3): rows' styles with `layers` taken from the columns."""
        served = find(run)
        if not served.mixing:
            raise HTTPException(400, f"run {run} ({served.recipe.name}) has no W space to mix styles in")
        row_seeds, col_seeds = mix_seeds(rows, "rows"), mix_seeds(cols, "cols")
        from ..latents import mix

        images, per_row = await batchers[run].call(lambda: mix(served.pipe, row_seeds, col_seeds, layers))
        data = await asyncio.to_thread(grid_png, images, per_row)
        return Response(data, media_type="image/png")

    @app.get("/api/runs/{run}/sample.csv", response_class=Response)
    async def sample_csv(run: str, ask: SampleBody = Depends(asked)):
        served = find(run)
        if served.kind == "image":
            raise HTTPException(400, f"run {run} samples images: ask for sample.png")
        samples, seed = await draw(served, ask)
        return Response(csv_text(served, samples), media_type="text/csv", headers={
            **sample_headers(seed, ask.n), "Content-Disposition": f'attachment; filename="{run}-{seed}.csv"'})

    @app.get("/api/runs/{run}/sample")
    async def sample_json(run: str, ask: SampleBody = Depends(asked)) -> dict:
        return await describe(find(run), ask)

    @app.post("/api/runs/{run}/sample")
    async def sample_post(run: str, body: SampleBody) -> dict:
        return await describe(find(run), body)

    async def describe(served: ServedRun, ask: SampleBody) -> dict:
        """The seed and options used, with links to the samples; table and point rows inline."""
        if served.kind == "image" or served.music:  # pictures and songs are links: check the request, fix its seed
            seed = settle(served, ask)[0]
            return {**used(served, ask, seed), **songs(served, ask, seed)}
        samples, seed = await draw(served, ask)
        return {**used(served, ask, seed), **json_rows(served, samples)}

    @app.get("/api/runs/{run}/song.{kind}", response_class=Response)
    async def song(run: str, kind: Literal["mid", "wav", "png"], ask: SampleBody = Depends(asked),
                   index: int = Query(0, ge=0, description="which of the n samples")):
        """One generated song of a music run: its MIDI file, its WAV rendering or its pianoroll."""
        served = find(run)
        if not served.music:
            raise HTTPException(400, f"run {run} ({served.recipe.name}) makes {served.kind} samples, not music")
        if index >= ask.n:
            raise HTTPException(422, f"index: one of the n={ask.n} samples, 0..{ask.n - 1}")
        seed = settle(served, ask)[0]
        key = (index, *values(ask, seed).values())
        files = served.songs.get(key)
        if files is None:
            samples, _ = await draw(served, ask.model_copy(update={"seed": seed}))
            files = served.keep_song(key, await asyncio.to_thread(song_files, served, samples, index))
        disposition = f'{"attachment" if kind == "mid" else "inline"}; filename="{run}-{seed}-{index}.{kind}"'
        return Response(files[f".{kind}"], media_type=SONG_TYPES[kind],
                        headers={**sample_headers(seed, ask.n), "Content-Disposition": disposition})

    @app.post("/api/runs/{run}/stylize", response_class=Response)
    async def stylize(run: str, content: UploadFile = File(...), style: UploadFile = File(...),
                      alpha: float = Form(1.0, ge=0.0, le=1.0)):
        served = find(run)
        if not served.info()["controls"]["stylize"]:
            raise HTTPException(400, f"run {run} ({served.recipe.name}) does not stylize uploaded images")
        content_x = decode_image(await read_upload(content), "content")
        style_x = decode_image(await read_upload(style), "style")
        out = await batchers[run].call(lambda: served.pipe(1, condition={"content": content_x, "styles": [style_x]},
                                                           alpha=alpha, seed=0).data)
        from ..style.images import write_image

        with tempfile.TemporaryDirectory() as tmp:
            data = write_image(out, Path(tmp) / "out.png").read_bytes()
        return Response(data, media_type="image/png", headers={"X-Gankit-Alpha": f"{alpha:g}"})

    @app.get("/api/runs/{run}/export.onnx", response_class=FileResponse)
    async def export_onnx(run: str):
        served = find(run)
        if not served.exportable:
            raise HTTPException(404, f"run {run} ({served.recipe.name}) has no traceable network to export")
        if "onnx" not in served.export_cache:
            from ..export import export_pipeline

            try:
                path, _ = await batchers[run].call(lambda: export_pipeline(
                    served.pipe, "onnx", Path(export_dir.name) / f"{run}.onnx", check=False))
            except ImportError:
                raise HTTPException(501, "ONNX export needs the export extra: pip install 'gankit[export]'") from None
            served.export_cache["onnx"] = path
        return FileResponse(served.export_cache["onnx"], media_type="application/octet-stream",
                            filename=f"{run}.onnx")

    @app.get("/api/stats")
    def stats() -> dict:
        return {name: {"network_calls": b.calls, "requests": b.requests} for name, b in batchers.items()}

    return app


async def read_upload(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_BYTES + 1)  # one byte over the limit is enough to refuse it
    if len(data) > MAX_BYTES:
        raise HTTPException(413, f"{upload.filename or 'upload'}: more than the limit of {MAX_BYTES} bytes")
    return data


def sample_headers(seed: int, n: int) -> dict:
    return {"X-Gankit-Seed": str(seed), "X-Gankit-N": str(n), "Cache-Control": "no-store"}
