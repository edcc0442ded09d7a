"""cfgtool graph's HTML page in a real headless browser: Debian's chromium driven by selenium
with the system chromedriver (nothing is downloaded). Skipped with a reason when either is
missing (.ci/run installs them: apt-get install chromium chromium-driver).

The screenshot of yolov4 is kept as a test artifact: ``yolov4-graph.png`` in the test's
temporary directory (pytest keeps the last three runs under its basetemp, e.g.
/tmp/pytest-of-$USER/pytest-current/), and in $CFGTOOL_ARTIFACTS when that is set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from cfgtool.model import build
from cfgtool.syntax import parse_file
from conftest import EXAMPLES, invoke
from test_graph import model_edges

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium manager: never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def requests(driver) -> list[str]:
    """URLs the page asked for since the last call (the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_yolov4_page_in_chromium(browser, tmp_path):
    page = tmp_path / "yolov4.html"
    assert invoke("graph", EXAMPLES / "yolov4.cfg", "-o", page).exit_code == 0
    browser.get_log("performance")
    browser.get_log("browser")
    browser.get(page.as_uri())
    driver = browser

    # every node and edge of the model is in the DOM
    network = build(parse_file(EXAMPLES / "yolov4.cfg"))
    layers = driver.execute_script(
        "return Array.from(document.querySelectorAll('.node[data-layer]'), n => +n.dataset.layer)")
    assert Counter(layers) == Counter(range(-1, len(network.layers)))
    edges = driver.execute_script(
        "return Array.from(document.querySelectorAll('.edge.input'), e => [+e.dataset.from, +e.dataset.to])")
    assert Counter(map(tuple, edges)) == model_edges(network)[0]

    # search by index centres the node and shows its section; close it, then click the node itself
    search = driver.find_element("id", "search")
    search.send_keys("104\n")
    assert driver.find_element("id", "found").text == "1/1"
    driver.find_element("id", "close").click()
    assert not driver.find_element("id", "panel").is_displayed()
    node = driver.find_element("css selector", '.node[data-layer="104"]')
    node.click()
    panel = driver.find_element("id", "panel")
    assert panel.is_displayed()
    assert driver.find_element("id", "panel-title").text == "layer 104: convolutional, line 737"
    lines = driver.find_element("id", "section").text.splitlines()
    assert lines[0].split() == ["737", "[convolutional]"]
    assert lines[2].split() == ["739", "filters=1024"]
    highlighted = driver.execute_script(
        "return Array.from(document.querySelectorAll('.edge.hl'), e => e.dataset.from + '>' + e.dataset.to)")
    assert sorted(highlighted) == ["103>104", "104>105"]

    # search by type cycles through the matches
    search.clear()
    search.send_keys("yolo\n")
    assert driver.find_element("id", "found").text == "1/3"
    search.send_keys("\n")
    assert driver.find_element("id", "found").text == "2/3"

    # the wheel zooms
    before = driver.execute_script("return document.getElementById('viewport').getAttribute('transform')")
    driver.execute_script("document.getElementById('canvas').dispatchEvent(new WheelEvent('wheel', "
                          "{deltaY: 300, clientX: 400, clientY: 400, bubbles: true, cancelable: true}))")
    after = driver.execute_script("return document.getElementById('viewport').getAttribute('transform')")
    assert after != before and "scale(" in after

    # a screenshot kept as an artifact, around the SPP block (#N,ZOOM opens the page there)
    driver.get(page.as_uri() + "#110,0.8")
    assert driver.execute_script("return document.getElementById('viewport').getAttribute('transform')") \
        .endswith("scale(0.8)")
    assert driver.find_element("id", "panel-title").text.startswith("layer 110: maxpool")
    shot = tmp_path / "yolov4-graph.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("CFGTOOL_ARTIFACTS"):
        Path(os.environ["CFGTOOL_ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, os.environ["CFGTOOL_ARTIFACTS"])

    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert all(url.startswith("file://") for url in requests(driver)), "the page made network requests"
    resources = driver.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0
