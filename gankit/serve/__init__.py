"""`gankit serve`: a "This X Does Not Exist" page and a JSON/PNG API for trained runs (the course's
thispersondoesnotexist.com: every refresh a new sample).

    gankit serve runs/dcgan-mnist5k-000 [NAME=RUN ...] [--port 8000]      # http://127.0.0.1:8000/
    gankit serve RUN --host 0.0.0.0 --token SECRET                        # any other address needs a token

One process serves several runs; each is loaded once (`RunPipeline`) and its concurrent sample requests are
batched through one network call (`batching.py`). The pages and the API are in `app.py`, the runs' controls
in `runs.py`, the checks on uploaded images in `uploads.py`. Needs the `serve` extra (FastAPI, uvicorn).
"""

import ipaddress
import os
import socket

from ..errors import GankitError

TOKEN_VARIABLE = "GANKIT_SERVE_TOKEN"


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    if not loopback(host) and not token:
        raise GankitError(f"--host {host} is reachable from other machines: pass --token TOKEN (or set "
                          f"{TOKEN_VARIABLE}), which every request must then carry")


def free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise GankitError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def build_app(paths: list[str], token: str | None = None, window_ms: float = 5.0, max_batch: int = 64,
              device: str | None = None):
    """The application serving these runs (`gankit serve` without the server loop; tests use it)."""
    try:
        from .app import create_app
    except ImportError as e:
        raise GankitError(f"gankit serve needs the serve extra ({e.name} is missing): "
                          "pip install 'gankit[serve]'") from None
    from .runs import load_runs

    return create_app(load_runs(paths, device), token, window_ms / 1000, max_batch)


def add_parser(sub) -> None:
    from ..argtypes import int_at_least, nonnegative_int, positive_int

    s = sub.add_parser("serve", help="web pages and a JSON/PNG API for trained runs (needs gankit[serve])")
    s.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or NAME=FOLDER to name one)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int_at_least(1), default=8000)
    s.add_argument("--token", default=None, help=f"required on every request (default: ${TOKEN_VARIABLE}); "
                                                 "needed to listen on any address but this machine's")
    s.add_argument("--batch-window-ms", type=nonnegative_int, default=5,
                   help="how long a sample request waits to share a network call (0: no batching)")
    s.add_argument("--max-batch", type=positive_int, default=64, help="most samples in one network call")
    s.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")


def cmd_serve(args) -> int:
    if args.port > 65535:
        raise GankitError(f"--port {args.port}: a port lies in 1..65535")
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    check_binding(args.host, token)
    free(args.host, args.port)
    app = build_app(args.runs, token, args.batch_window_ms, args.max_batch, args.device)
    import uvicorn

    names = ", ".join(app.state.runs)
    print(f"serving {names} on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
