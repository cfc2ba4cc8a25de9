"""``photosort demo --serve``: the demo, then the gallery and the albums API on loopback until Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.cli.test_serve import FAKE_ENV, _read_until_ready

ENTRY_POINT = Path(sys.executable).with_name("photosort")


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - a loopback URL the test built
        return response.status, response.headers.get("Content-Type", ""), response.read()


def test_demo_serve_prints_the_gallery_url_and_serves_page_api_and_thumbnails() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE"))}
    process = subprocess.Popen(
        [str(ENTRY_POINT), "demo", "--serve", "--port", "0", "--gallery-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**env, **FAKE_ENV},
    )
    try:
        printed = _read_until_ready(process)
        url = re.search(r"Open the gallery: (http://127\.0\.0\.1:\d+/)", printed).group(1)
        demo_counts = dict(re.findall(r"^(\w+)\s+(?:album|inventory)\s+(\d+)\b", printed, re.MULTILINE))
        status, kind, page = _get(url)
        assert status == 200 and kind.startswith("text/html") and b"gallery.js" in page
        albums = json.loads(_get(url + "api/albums")[2])["albums"]
        assert albums and {a["album"]: str(a["count"]) for a in albums} == demo_counts
        cover = albums[0]["cover"]
        made = json.loads(_get(url + f"api/photos/{cover['image_id']}/thumbnail")[2])  # made on the first view
        assert made["made"] is True and made["url"].split("?")[0] == cover["thumbnail_url"].split("?")[0]
        status, kind, thumb = _get(cover["thumbnail_url"])
        assert status == 200 and thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
