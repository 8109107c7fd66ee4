"""blt-serve's page at ``/``, driven in headless Chromium (Debian's chromium and chromedriver) with
Selenium: typing shows the tokens as coloured spans whose ids are ``encode``'s, a patcher shows
the patcher's lengths, a large input renders its first part and counts all of it. A screenshot of
each state is saved under build/test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import blt
from blt.serve.page import DEFAULT_ITEMS
from support import REPO, start_serve

ARTIFACTS = REPO / "build" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
TEXT = ("Tokenizers should be exactly right and fast.\n"
        "Ünïcödé, emoji 🙂 and code: def f(x): return x ** 2  # ok")


@pytest.fixture(scope="module")
def server(vocab_dir):
    proc, port = start_serve("--tokenizers", "bytes@1=bytes;cl100k@1=encoding:cl100k_base",
                             "--vocab-dir", vocab_dir, "--access-log", "false", "--log-level", "error")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(CHROMIUM) and os.path.exists(driver_path)):
        pytest.fail("Debian's chromium and chromium-driver are needed (make sysdeps installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900", "--no-first-run",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, predicate, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: predicate(d))


def _shown(driver) -> tuple[str, list[int], int]:
    """The rendered kind, the ids (or patch lengths) on the spans, and the count line's number."""
    return driver.execute_script(
        "const s = document.getElementById('spans'), c = document.getElementById('counts');"
        "return [s.dataset.kind || '', Array.from(s.children, e => Number(e.dataset.id)),"
        "        c ? Number(c.dataset.count) : -1];")


def _choose(driver, value: str) -> None:
    _wait(driver, lambda d: any(o.get_attribute("value") == value
                                for o in d.find_elements(By.CSS_SELECTOR, "#splitter option")))
    Select(driver.find_element(By.ID, "splitter")).select_by_value(value)


def _screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    assert path.stat().st_size > 10_000
    return path


def test_typed_text_shows_encode_ids_as_spans(server, browser, vocab_dir):
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    expected = enc.encode(TEXT).tolist()
    browser.get(server + "/")
    _choose(browser, "tokenizer:cl100k@1")
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(TEXT)
    kind, ids, count = _wait(browser, lambda d: (r := _shown(d))[0] == "tokens" and r[2] == len(expected) and r)
    assert ids == expected
    assert count == len(expected)
    spans = browser.find_elements(By.CSS_SELECTOR, "#spans > span")
    assert len({s.value_of_css_property("background-color") for s in spans[:6]}) == 6  # coloured
    stats = browser.find_element(By.ID, "stats").text
    assert f"{len(expected)} tokens" in stats and f"{len(TEXT.encode())} bytes" in stats
    assert f"{len(TEXT.encode()) / len(expected):.2f} bytes per token" in stats
    _screenshot(browser, "serve-page-tokens.png")

    _choose(browser, "patcher:space")
    patches = blt.Patcher.space().patch(blt.ByteTokenizer().encode(TEXT)).tolist()
    kind, lengths, count = _wait(browser, lambda d: (r := _shown(d))[0] == "patches" and r)
    assert lengths == patches and count == len(patches)
    _screenshot(browser, "serve-page-patches.png")


def test_large_input_renders_the_first_part_and_counts_all(server, browser, vocab_dir, corpus_dir):
    enc = blt.get_encoding("cl100k_base", vocab_dir=vocab_dir)
    big = (corpus_dir / "en_prose.txt").read_text(encoding="utf-8")[:3_000_000]
    browser.get(server + "/")
    _choose(browser, "tokenizer:cl100k@1")
    # Pasting: the whole value at once, then one input event, as a paste gives.
    browser.execute_script("const t = document.getElementById('text'); t.value = arguments[0];"
                           "t.dispatchEvent(new Event('input'));", big)
    total = enc.count(big)
    kind, ids, count = _wait(browser, lambda d: (r := _shown(d))[2] == total and r, timeout=120)
    assert ids == enc.encode_prefix(big, DEFAULT_ITEMS).ids.tolist()
    more = browser.find_element(By.ID, "more")
    assert more.is_displayed() and f"first {DEFAULT_ITEMS:,} of {total:,}" in more.text
    _screenshot(browser, "serve-page-large.png")


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_inspect_api_answers_raw_bytes_and_names_bad_input(server):
    status, r = _post(server + "/v1/inspect?tokenizer=bytes&max_items=3", b"\xffab", "application/octet-stream")
    assert status == 200 and r["ids"] == [1, 259, 101] and r["pieces"] == [None, "\\xff", "a"]
    assert r["count"] == 5 and r["bytes"] == 3 and r["shown"] == 3 and r["name"] == "bytes@1"
    status, r = _post(server + "/v1/inspect", json.dumps({"text": "x", "patcher": "nope"}).encode())
    assert status == 404 and "unknown patcher 'nope'" in r["error"]["message"]
    status, r = _post(server + "/v1/inspect", json.dumps({"text": "x", "max_items": 0}).encode())
    assert status == 400 and "max_items" in r["error"]["message"]
    status, r = _post(server + "/v1/inspect", json.dumps({"txt": "x"}).encode())
    assert status == 400 and "'text'" in r["error"]["message"]
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server + "/static/../server.py", timeout=30)
    assert e.value.code == 404
    with urllib.request.urlopen(server + "/", timeout=30) as page:
        html = page.read().decode()
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script src="/static/app.js"' in html and "http" not in html.replace("http-equiv", "")


def test_dropped_file_is_sent_as_bytes(server, browser):
    data = bytes(range(256)) + "héllo wörld\n".encode()
    browser.get(server + "/")
    _choose(browser, "tokenizer:bytes@1")
    # What a drop of a file from the desktop gives the page: a File in a DataTransfer.
    browser.execute_script(
        "const dt = new DataTransfer();"
        "dt.items.add(new File([new Uint8Array(arguments[0])], 'sample.bin'));"
        "document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt}));",
        list(data))
    expected = blt.ByteTokenizer().encode(data).tolist()
    kind, ids, count = _wait(browser, lambda d: (r := _shown(d))[2] == len(expected) and r)
    assert ids == expected
    assert browser.find_element(By.ID, "file-name").text == f"sample.bin ({len(data)} bytes)"
    assert not browser.find_element(By.ID, "text").is_enabled()
    _screenshot(browser, "serve-page-file.png")
