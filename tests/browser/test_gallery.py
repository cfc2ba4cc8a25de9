"""The gallery in a real browser: headless Chromium (Debian's chromium + chromedriver, driven by Selenium)
against the offline stack loaded with the sample photos, exactly what ``photosort local serve`` serves.

A second front door plays the template's JWT authorizer on the same stack, with the template's user pool made
in moto's cognito-idp, and ``tests/support/hosted_ui.py`` stands in for Cognito's hosted UI: the sign-in tests
go through the page's real authorization code + PKCE flow and send the token moto's Cognito issued.

Screenshots are saved as test artifacts under ``test-artifacts/`` (or $PHOTOSORT_ARTIFACTS). Skips only where
no browser can be installed; where apt-get and root are available, ``make test`` installs one first.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from photosort.models import ImageRecord
from photosort.repository import Repository
from photosort_local.samples import SAMPLES, find_sample
from tests.support.hosted_ui import HostedUi

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PHOTOSORT_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Five re-encodings of the cat photo (different bytes, so not duplicates), each with its own EXIF date.
CAT_YEARS = (2019, 2023, 2021, 2020, 2022)
PAGE = 2  # photos per page in the album view, so that paging (infinite scroll) is exercised


def _browser_or_skip() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    installable = shutil.which("apt-get") is not None and os.geteuid() == 0
    if installable:
        pytest.fail("chromium/chromedriver are missing but apt-get is available: run `make browser` (make test does)")
    pytest.skip(
        "no browser: /usr/bin/chromium and chromedriver are missing and cannot be installed here (no apt-get/root)"
    )


def _dated_cat(quality: int, year: int) -> bytes:
    img = Image.open(find_sample("chelsea")).convert("RGB")
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = f"{year}:06:01 10:00:00"  # DateTimeOriginal
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


USER, PASSWORD = "owner@example.com", "Correct-Horse-Battery-9"


@dataclass
class Site:
    url: str
    repo: Repository
    bucket: str
    records: list[ImageRecord]
    signin_url: str  # the same gallery behind the JWT authorizer
    hosted_ui: HostedUi


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    _browser_or_skip()
    from moto.server import ThreadedMotoServer

    from photosort_local.gallery import GalleryServer
    from photosort_local.stack import EmbeddedStack

    uploads = [(f"incoming/samples/{find_sample(n).name}", find_sample(n).read_bytes()) for n in SAMPLES]
    uploads += [(f"incoming/cats/chelsea-{year}.jpg", _dated_cat(80 + i, year)) for i, year in enumerate(CAT_YEARS)]
    random.Random(14).shuffle(uploads)
    with EmbeddedStack(parameters={"ClassifierBackend": "local"}) as stack:
        for key, body in uploads:
            stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
        outcomes = stack.wait_idle(timeout=300)
        assert [o.status for o in outcomes] == ["SUCCEEDED"] * len(uploads)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            # both front doors exist before the handler first loads (it reads its environment then)
            with GalleryServer(stack, endpoint) as gallery, GalleryServer(stack, endpoint, sign_in=True) as signin:
                assert signin.user_pool is not None
                signin.user_pool.add_user(USER, PASSWORD)
                hosted_ui = HostedUi(signin.user_pool)
                try:
                    repo = Repository(stack.client("dynamodb"), stack.table)
                    yield Site(gallery.url, repo, stack.bucket, list(repo.scan_images()), signin.url, hosted_ui)
                finally:
                    hosted_ui.stop()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="photosort-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
        *site.hosted_ui.chromium_flags(),
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: Any, css: str, count: int = 1, timeout: float = 30) -> list[Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= count)
    return list(driver.find_elements(By.CSS_SELECTOR, css))


def _images_loaded(driver: Any, css: str, timeout: float = 30) -> int:
    from selenium.webdriver.support.ui import WebDriverWait

    script = f"""const imgs = [...document.querySelectorAll({css!r})];
        return imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : 0;"""
    return int(WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script)))


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def _expected_counts(records: list[ImageRecord]) -> Counter[str]:
    return Counter(m.album for r in records for m in r.memberships)


def test_album_grid_shows_every_album_with_its_count_and_a_cover(site: Site, browser: Any) -> None:
    browser.get(site.url)
    expected = _expected_counts(site.records)
    assert expected["pets"] >= 1 + len(CAT_YEARS)  # the sample cat and its five re-encodings
    cards = _wait(browser, ".album[data-album]", len(expected))
    shown = {c.get_attribute("data-album"): c.find_element("css selector", ".count").text for c in cards}
    assert shown == {album: f"{n} photo{'s' if n != 1 else ''}" for album, n in expected.items()}
    assert _images_loaded(browser, ".album img.thumb") == len(expected)  # every cover thumbnail decoded
    _screenshot(browser, "gallery-albums.png")


def test_an_album_shows_its_photos_newest_first_page_by_page(site: Site, browser: Any) -> None:
    browser.get(f"{site.url}?page={PAGE}#/album/pets")
    expected = _expected_counts(site.records)["pets"]
    tiles = _wait(browser, ".photo[data-image-id]", PAGE)
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # infinite scroll loads the rest
    tiles = _wait(browser, ".photo[data-image-id]", expected)
    assert len(tiles) == expected
    taken = [t.get_attribute("data-taken-at") for t in tiles]
    assert taken == sorted(taken, reverse=True)
    dated = [t[:4] for t in taken if t[:4] in {str(y) for y in CAT_YEARS}]
    assert dated == [str(y) for y in sorted(CAT_YEARS, reverse=True)]
    by_id = {r.image_id: r for r in site.records}
    assert all("pets" in {m.album for m in by_id[t.get_attribute("data-image-id")].memberships} for t in tiles)
    assert _images_loaded(browser, ".photo img.thumb") == expected
    _screenshot(browser, "gallery-album.png")


def test_a_photo_shows_its_labels_reason_and_where_the_original_is(site: Site, browser: Any) -> None:
    record = next(r for r in site.records if r.source_key == "incoming/cats/chelsea-2023.jpg")
    browser.get(f"{site.url}#/photo/{record.image_id}")
    rows = _wait(browser, "[data-testid=labels] li[data-label]", len(record.labels))
    shown = [(r.get_attribute("data-label"), r.find_element("css selector", ".conf").text) for r in rows]
    assert shown == [(x.name, f"{x.confidence:.1f}%") for x in record.labels]
    reason = browser.find_element("css selector", "[data-testid=reason]").text
    assert reason == f"{record.status.value}: {record.reason}"
    location = browser.find_element("css selector", "[data-testid=location]").text
    assert location == f"s3://{site.bucket}/{record.destination_key}"
    assert _images_loaded(browser, "[data-testid=detail-image]") == 1
    _screenshot(browser, "gallery-photo.png")


def test_label_search_finds_the_cats(site: Site, browser: Any) -> None:
    browser.get(site.url)
    _wait(browser, ".album[data-album]")
    box = browser.find_element("css selector", "#search-input")
    box.send_keys("cat")
    box.submit()
    cats = {r.image_id for r in site.records if any(x.name.casefold() == "cat" for x in r.labels)}
    assert len(cats) >= len(CAT_YEARS)
    tiles = _wait(browser, "[data-testid=results] .photo[data-image-id]", len(cats))
    assert {t.get_attribute("data-image-id") for t in tiles} == cats


# ---------------------------------------------------------------------------------------------------- sign-in
def _alert(driver: Any) -> str:
    return str(_wait(driver, ".error[role=alert]")[0].text)


def test_signing_in_through_the_hosted_ui_shows_the_albums(site: Site, browser: Any) -> None:
    browser.get(site.signin_url)
    assert _alert(browser) == "Please sign in to see your albums."  # the authorizer refused: no token
    assert not browser.find_elements("css selector", ".album")
    _screenshot(browser, "gallery-sign-in.png")
    browser.find_element("css selector", "#signin").click()
    _wait(browser, "#username")
    authorize = urlsplit(browser.current_url)
    assert (authorize.scheme, authorize.hostname, authorize.path) == (
        "https",
        site.hosted_ui.pool.domain,
        "/oauth2/authorize",
    )
    browser.find_element("css selector", "#username").send_keys(USER)
    browser.find_element("css selector", "#password").send_keys("wrong-password")
    browser.find_element("css selector", "#submit").click()
    assert _wait(browser, "#error")[0].text == "Incorrect username or password."
    browser.find_element("css selector", "#username").send_keys(USER)
    browser.find_element("css selector", "#password").send_keys(PASSWORD)
    browser.find_element("css selector", "#submit").click()
    cards = _wait(browser, ".album[data-album]", len(_expected_counts(site.records)))
    assert len(cards) == len(_expected_counts(site.records))
    assert [e["answer"] for e in site.hosted_ui.exchanges][-1:] == ["tokens"]  # code + verifier accepted
    assert "code=" not in browser.current_url  # the code left the address bar
    assert browser.find_element("css selector", "#signout").is_displayed()
    assert not browser.find_element("css selector", "#signin").is_displayed()
    token = browser.execute_script("return sessionStorage.getItem('photosort.token')")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == site.hosted_ui.pool.client_id and claims["email"] == USER

    browser.find_element("css selector", "#signout").click()  # the hosted UI's /logout sends the browser back
    assert _alert(browser) == "Please sign in to see your albums."
    assert browser.current_url.startswith(site.signin_url)
    assert site.hosted_ui.logouts == [{"client_id": site.hosted_ui.pool.client_id, "logout_uri": site.signin_url}]
    assert browser.execute_script("return sessionStorage.getItem('photosort.token')") is None


@pytest.mark.parametrize("tamper", ["signature", "expired"])
def test_a_forged_or_expired_token_is_refused_and_dropped(site: Site, browser: Any, tamper: str) -> None:
    tokens = site.hosted_ui.pool.sign_in(USER, PASSWORD)
    head, body, signature = tokens["IdToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    if tamper == "expired":
        claims["exp"] = int(time.time()) + 5  # the page drops tokens within 10 s of expiry before sending them
    else:
        claims["email"] = "someone-else@example.com"  # the signature no longer matches
    forged = ".".join((head, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), signature))
    browser.get(site.signin_url)
    _alert(browser)
    browser.execute_script("sessionStorage.setItem('photosort.token', arguments[0])", forged)
    browser.refresh()
    assert _alert(browser) == "Please sign in to see your albums."
    assert browser.execute_script("return sessionStorage.getItem('photosort.token')") is None
