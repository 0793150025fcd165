"""`gankit serve` in a real browser: a `gankit serve` process on a free port, driven by Playwright with headless
Chromium (Debian's `chromium` package, launched by its path: Playwright's own browser download is not
available here). Every control the served models have is used: New and the space bar, class, EMA, domain,
the permalink, the table and its CSV, the scatter, the ONNX link, a style upload, a text run's prompt box and a
music run's players and MIDI links."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

CHROMIUM = os.environ.get("GANKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no Chromium: install it (Debian, as root: apt-get install -y "
                                                     "chromium) or set GANKIT_CHROMIUM to its path")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(serve_runs, media_runs):
    port = free_port()
    runs = {**serve_runs, **media_runs}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "serve", *[f"{n}={p}" for n, p in runs.items()],
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{base}/api/runs", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"gankit serve exited: {proc.stdout.read()}")
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        tab.set_default_timeout(30_000)
        yield tab
        browser.close()


def shown(page) -> int:
    return page.evaluate("Number(document.body.dataset.shown || 0)")


def ready(page, after: int = 0) -> str:
    """Wait until the page has shown more than `after` samples; the seed of the last."""
    page.wait_for_function("n => Number(document.body.dataset.shown || 0) > n", arg=after)
    return page.evaluate("document.body.dataset.ready")


def absolute(page, selector: str, attribute: str) -> str:
    return page.evaluate("([s, a]) => new URL(document.querySelector(s).getAttribute(a), location.href).href",
                         [selector, attribute])


def image_bytes(page) -> bytes:
    return page.request.get(absolute(page, "#sample", "data-url")).body()


def test_index_lists_every_run_and_links_to_its_page(page, server):
    page.goto(server + "/")
    page.wait_for_selector("#runs a")
    names = page.locator("#runs a").all_inner_texts()
    assert sorted(names) == ["chorus", "digits", "faces", "hospitals", "melody", "ring", "style", "words"]
    page.click("text=digits")
    page.wait_for_url("**/runs/digits*")
    ready(page)
    assert page.is_visible("#sample")


def test_new_space_bar_class_ema_and_permalink(page, server):
    page.goto(server + "/runs/digits")
    first = ready(page)
    first_image = image_bytes(page)
    count = shown(page)
    page.click("#new")
    second = ready(page, count)
    assert second != first and image_bytes(page) != first_image  # a refresh shows another sample
    count = shown(page)
    page.keyboard.press("Space")
    third = ready(page, count)
    assert third not in (first, second)
    count = shown(page)
    page.select_option("#class", "7")
    assert ready(page, count) == third  # a control keeps the seed
    assert "class=7" in page.url and "class=7" in page.get_attribute("#sample", "data-url")
    page.uncheck("#ema")
    page.wait_for_function("document.querySelector('#sample').dataset.url.includes('ema=false')")
    kept_seed, kept_image = page.evaluate("document.body.dataset.ready"), image_bytes(page)
    permalink = page.get_attribute("#permalink", "href")
    assert f"seed={kept_seed}" in permalink and "class=7" in permalink and "ema=false" in permalink
    page.goto(server + "/")
    page.goto(server + permalink)  # the permalink gives the same sample back
    assert ready(page) == kept_seed and image_bytes(page) == kept_image
    assert page.input_value("#class") == "7" and not page.is_checked("#ema")
    with page.expect_download() as download:
        page.click("#onnx")
    assert download.value.suggested_filename == "digits.onnx"
    assert os.path.getsize(download.value.path()) > 1000


def test_tables_show_rows_follow_the_domain_and_download_as_csv(page, server):
    page.goto(server + "/runs/hospitals?n=5&class=1")
    ready(page)
    header = page.locator("#table th").all_inner_texts()
    assert header[-1] == "diagnosis" and page.locator("#table tbody tr").count() == 5
    assert set(page.locator("#table tbody tr td:last-child").all_inner_texts()) == {"malignant"}
    seed, count = page.evaluate("document.body.dataset.ready"), shown(page)
    page.select_option("#domain", "large")
    ready(page, count)
    assert page.locator("#table th").all_inner_texts() != header  # another hospital records other columns
    csv = page.request.get(absolute(page, "#download", "href")).text().strip().splitlines()
    assert csv[0].split(",") == page.locator("#table th").all_inner_texts() and len(csv) == 6
    assert seed in page.url


def test_points_show_a_scatter(page, server):
    page.goto(server + "/runs/ring")
    ready(page)
    assert page.evaluate("document.querySelector('#sample').naturalWidth") > 200
    assert page.input_value("#n") == "1000"


def test_style_upload_and_alpha(page, server, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, size in (("content", (64, 48)), ("style", (32, 32))):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    page.goto(server + "/runs/style")
    ready(page)  # bundled photos in bundled styles
    assert page.is_visible("#stylize")
    page.set_input_files("#content", str(tmp_path / "content.png"))
    page.set_input_files("#style", str(tmp_path / "style.png"))
    page.fill("#alpha", "0.6")
    page.click("#stylize-go")
    page.wait_for_function("document.body.dataset.stylized === '1'")
    assert page.evaluate("[document.querySelector('#stylized').naturalWidth, "
                         "document.querySelector('#stylized').naturalHeight]") == [64, 48]
    (tmp_path / "notes.png").write_text("not a picture")  # a text file named .png: the page shows the reason
    page.set_input_files("#content", str(tmp_path / "notes.png"))
    page.click("#stylize-go")
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")


def test_truncation_slider_and_style_mixing(page, server):
    page.goto(server + "/runs/faces?seed=5&n=4")
    assert ready(page) == "5"
    plain = image_bytes(page)
    count = shown(page)
    page.fill("#truncation", "0.5")
    page.dispatch_event("#truncation", "change")
    assert ready(page, count) == "5"  # the slider keeps the seed and changes the picture
    assert "truncation=0.5" in page.url and image_bytes(page) != plain
    page.fill("#mix-rows", "0,1")
    page.fill("#mix-cols", "2,3")
    page.select_option("#mix-layers", "fine")
    page.click("#mix-go")
    page.wait_for_function("Number(document.body.dataset.mixed || 0) > 0")
    assert page.is_visible("#mixed")
    page.fill("#mix-rows", "x")
    page.click("#mix-go")
    page.wait_for_selector("#error:not([hidden])")
    assert "rows: 1 to 8" in page.inner_text("#error")


def test_a_prompt_box_draws_the_sentence_and_shows_why_an_empty_one_is_refused(page, server):
    page.goto(server + "/runs/words?seed=3&n=4")
    assert ready(page) == "3" and page.is_visible("#prompt")
    count = shown(page)
    page.fill("#prompt", "a small red circle at the top")
    page.click("#prompt-go")
    assert ready(page, count) == "3"
    assert "text=a+small+red+circle" in page.get_attribute("#sample", "data-url") and "text=" in page.url
    assert page.evaluate("document.querySelector('#sample').naturalWidth") > 0
    page.fill("#prompt", "")
    page.click("#prompt-go")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "the prompt is empty: type a sentence"


def test_a_music_run_plays_each_song_and_links_its_midi(page, server):
    page.goto(server + "/runs/chorus?seed=2&n=2")
    assert ready(page) == "2"
    assert page.locator("#songs audio[controls]").count() == 2 and not page.is_visible("#sample")
    page.wait_for_function("[...document.querySelectorAll('#songs img')].every(i => i.complete && i.naturalWidth > 0)")
    links = page.locator("#songs a[download]")
    assert links.count() == 2 and "sample 2 (.mid)" in links.nth(1).inner_text()
    midi = page.request.get(absolute(page, "#songs figure:nth-child(2) a", "href"))
    assert midi.headers["content-type"] == "audio/midi" and midi.body()[:4] == b"MThd"
    wav = page.request.get(absolute(page, "#songs figure:nth-child(2) audio", "src"))
    assert wav.headers["content-type"] == "audio/wav" and wav.body()[:4] == b"RIFF"
    with page.expect_download() as download:
        links.nth(0).click()
    assert download.value.suggested_filename == "chorus-2-0.mid"
