"""The web page of `talkrig serve` in a real headless Chromium (Debian's chromium and
chromium-driver; nothing is downloaded): upload a photo, render with a progress bar and a
working download link, and a live stream that plays as it arrives."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from conftest import REPO  # noqa: E402
from serve_util import running_server  # noqa: E402

pytestmark = pytest.mark.slow


def _chromium() -> tuple[str, str]:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if not browser or not driver:
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    return browser, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary, driver = _chromium()
    opts = Options()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900",
                "--autoplay-policy=no-user-gesture-required", "--disable-gpu",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(arg)
    # the driver is Debian's: selenium-manager must not look for (or download) another one
    b = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    b.set_page_load_timeout(60)
    yield b
    b.quit()


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve")) as url:
        browser.get(url + "/")
        yield browser


def _shot(browser, name: str) -> None:
    folder = Path(os.environ.get("TALKRIG_SCREENSHOTS") or REPO / ".cache" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(folder / f"{name}.png"))


def test_page_uploads_a_photo_renders_and_offers_the_download(page):
    page.find_element(By.ID, "photo").send_keys(str(REPO / "examples" / "astronaut.jpg"))
    text = page.find_element(By.ID, "text")
    text.clear()
    text.send_keys("Hello from a real browser.")
    Select(page.find_element(By.ID, "emotion")).select_by_visible_text("surprised")
    Select(page.find_element(By.ID, "size")).select_by_visible_text("256")
    page.find_element(By.ID, "render").click()
    progress_seen = set()

    def finished(b):
        progress_seen.add(float(b.find_element(By.ID, "progress").get_attribute("value")))
        return b.find_element(By.ID, "result").is_displayed() or "error" in b.find_element(By.ID, "status").get_attribute("class")

    WebDriverWait(page, 300, poll_frequency=0.2).until(finished)
    assert page.find_element(By.ID, "status").text == "Done.", page.find_element(By.ID, "status").text
    assert any(0 < p < 1 for p in progress_seen)  # the bar moved on the way
    href = page.find_element(By.ID, "download").get_attribute("href")
    assert href.startswith("blob:")
    # the link holds a real mp4: fetch it in the page and check its header and size
    size, head = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => done([b.byteLength,"
        " String.fromCharCode(...new Uint8Array(b.slice(4, 8)))]));", href)
    assert size > 10_000 and head == "ftyp"
    WebDriverWait(page, 30).until(lambda b: b.execute_script("return document.getElementById('rendered').readyState") >= 2)
    playing = page.execute_async_script(  # it plays in the page (muted: no user gesture here)
        "const done = arguments[arguments.length - 1]; const v = document.getElementById('rendered');"
        "v.muted = true; v.play().then(() => setTimeout(() => done(v.currentTime), 600), e => done(-1));")
    assert playing > 0.2
    _shot(page, "render")


def test_page_live_stream_starts_playing(page):
    page.find_element(By.ID, "live").click()
    WebDriverWait(page, 120).until(lambda b: b.find_element(By.ID, "live-state").text in ("on air", "listening"))
    text = page.find_element(By.ID, "text")
    text.clear()
    text.send_keys("I am live now. Can you hear me?")
    page.find_element(By.ID, "say").click()
    t0 = time.monotonic()
    WebDriverWait(page, 60).until(lambda b: b.find_element(By.ID, "live-state").text == "speaking")
    played = lambda b: b.execute_script("const v = document.getElementById('player');"  # noqa: E731
                                        "return [v.currentTime, v.paused, v.readyState, v.videoWidth];")
    WebDriverWait(page, 60).until(lambda b: played(b)[0] > 1.0 and not played(b)[1])
    current, paused, ready, width = played(page)
    assert ready >= 2 and width in (256, 512) and not paused
    page.execute_script("document.getElementById('live-area').scrollIntoView()")
    time.sleep(1.0)
    assert played(page)[0] > current + 0.5  # still playing: media keeps arriving
    _shot(page, "live")
    assert time.monotonic() - t0 < 60
    page.find_element(By.ID, "live").click()  # stop
    WebDriverWait(page, 10).until(lambda b: b.find_element(By.ID, "live").text == "Live")
