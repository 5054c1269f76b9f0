"""The demo page in real headless Chromium against a real server: upload, wait, compare
what the page shows with what the API answers for the same file."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import matplotlib
import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as ChromeDriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from service.launcher import Server
from service.routes.page import EXAMPLES_DIR

ANSWER_TIMEOUT_S = 20.0
KEY = {"X-API-Key": "s3cret"}  # the strict server's
API_KEY_STORAGE = "pinet-api-key"  # where the page keeps the key (app.js)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PI_SIZE = 50
EXAMPLES = {
    "signal": ("hapt-standing.csv", "signals"),
    "image": ("photo-crop.png", "images"),
}

# The page interpolates viridis between 17 stops: up to 5.5 of 255 off matplotlib's table.
VIRIDIS_TOLERANCE = 6
# Each canvas matching a selector: its data-kind and its pixels, RGBA row by row.
CANVAS_PIXELS_JS = """
return [...document.querySelectorAll(arguments[0])].map((canvas) => ({
  kind: canvas.dataset.kind ?? "",
  height: canvas.height,
  rgba: Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data),
}));
"""
# Each persistence diagram drawn: its channel, its points (data-birth, data-death,
# data-dimension, cx, cy, as the page wrote them) and its legend's entries.
DIAGRAMS_JS = """
return [...document.querySelectorAll("#diagrams svg.diagram")].map((plot) => ({
  channel: plot.dataset.channel,
  points: [...plot.querySelectorAll("circle")].map((point) => [
    point.dataset.birth, point.dataset.death, point.dataset.dimension,
    point.getAttribute("cx"), point.getAttribute("cy"),
  ]),
  legend: [...plot.querySelectorAll(".legend")].map((entry) => entry.textContent),
}));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Debian's headless chromium, driven by its version-matched chromedriver."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.fail(
            "the page test needs Debian's chromium and chromium-driver: "
            "apt-get install chromium chromium-driver (.ci/install does)"
        )
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1800")  # tall enough for a 3-channel result
    driver = webdriver.Chrome(options=options, service=ChromeDriverService(chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def canvas_pixels(browser: WebDriver, selector: str) -> list[tuple[str, np.ndarray]]:
    """(data-kind, pixels `(H, W, 4)` uint8) of each canvas matching `selector`."""
    return [
        (c["kind"], np.asarray(c["rgba"], dtype=np.uint8).reshape(c["height"], -1, 4))
        for c in browser.execute_script(CANVAS_PIXELS_JS, selector)
    ]


def wait_for_answer(browser: WebDriver) -> str:
    """The page's state once the API has answered: 'done' or 'error'."""

    def answered(driver: WebDriver) -> str | None:
        state = driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        return state if state in ("done", "error") else None

    return WebDriverWait(browser, ANSWER_TIMEOUT_S).until(answered)


def shown_number(browser: WebDriver, element_id: str) -> float:
    """A number the page shows: its exact data-value, checked against its displayed text."""
    element = browser.find_element(By.ID, element_id)
    value = float(element.get_attribute("data-value"))
    assert math.isfinite(value)
    assert math.isclose(float(element.text), value, rel_tol=5e-3), element.text
    return value


def api_answer(server: Server, path: Path, route: str, model: str = "") -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/v1/{route}/pi",
        files={"file": (path.name, path.read_bytes())},
        data={"compare": "true"} | ({"model": model} if model else {}),
        timeout=30.0,
    )
    assert response.status_code == 200, response.text
    return response.json()


def api_topology(
    server: Server, path: Path, route: str, recipe: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """The topology route's answer for the file by a PI answer's `model.recipe`."""
    return httpx.post(
        f"{server.url}/v1/{route}/topology",
        files={"file": (path.name, path.read_bytes())},
        data={"recipe": recipe["name"], "params": json.dumps(recipe["params"])},
        headers=headers,
        timeout=30.0,
    )


def save_screenshot(browser: WebDriver, path: Path) -> None:
    assert browser.save_screenshot(str(path))
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 1000


def upload(browser: WebDriver, server: Server, path: Path) -> str:
    browser.get(f"{server.url}/")
    browser.find_element(By.ID, "file-input").send_keys(str(path))
    return wait_for_answer(browser)


@pytest.mark.parametrize("modality", ["signal", "image"])
def test_upload_shows_input_pis_timings_and_mse(
    server: Server, browser: WebDriver, tmp_path: Path, modality: str
) -> None:
    name, route = EXAMPLES[modality]
    path = EXAMPLES_DIR / name
    state = upload(browser, server, path)
    assert state == "done", browser.find_element(By.ID, "error").text
    save_screenshot(browser, tmp_path / f"page-{modality}.png")
    expected = api_answer(server, path, route)

    # The input: one line plot per signal channel, or the image itself.
    if modality == "signal":
        plots = canvas_pixels(browser, "#input-signal canvas")
        assert len(plots) == 3 and all(rgba[..., 3].any() for _, rgba in plots)
    else:
        width = browser.execute_script("return document.getElementById('input-image').naturalWidth")
        assert width == 32

    # The numbers: the same model and MSE as the API's answer, finite timings that add up.
    assert browser.find_element(By.ID, "model-name").text == expected["model"]["name"]
    assert shown_number(browser, "mse") == expected["mse"]
    pinet_ms, diagram_ms, image_ms, speedup = (
        shown_number(browser, element_id)
        for element_id in ("pinet-ms", "diagram-ms", "image-ms", "speedup")
    )
    assert min(pinet_ms, diagram_ms, image_ms, speedup) > 0
    assert math.isclose(speedup, (diagram_ms + image_ms) / pinet_ms, rel_tol=1e-9)

    # The PIs: per channel the exact and the PI-Net PI, drawn row 0 at the top through
    # viridis on the channel's shared scale; the exact ones are far from blank.
    channels = browser.find_elements(By.CSS_SELECTOR, "#channels .channel")
    canvases = canvas_pixels(browser, "#channels canvas")
    assert len(channels) == len(expected["pi"]) == 3
    assert [kind for kind, _ in canvases] == ["exact", "pinet"] * 3
    pis = np.stack([expected["exact"]["pi"], expected["pi"]], axis=1)  # (C, 2, 50, 50)
    for c, channel in enumerate(channels):
        scale = float(channel.get_attribute("data-max"))
        assert math.isclose(scale, pis[c].max(), rel_tol=1e-9)
        for pi, (_, rgba) in zip(pis[c], canvases[2 * c : 2 * c + 2], strict=True):
            assert rgba.shape == (PI_SIZE, PI_SIZE, 4) and (rgba[..., 3] == 255).all()
            colours = matplotlib.colormaps["viridis"](pi / scale)[..., :3] * 255
            assert np.abs(rgba[..., :3] - colours).max() <= VIRIDIS_TOLERANCE
        exact_rgb = canvases[2 * c][1][..., :3].reshape(-1, 3)
        assert len(np.unique(exact_rgb, axis=0)) > 10


@pytest.mark.parametrize(("modality", "model"), [("signal", ""), ("image", "tiny-image-cubical")])
def test_the_page_draws_the_exact_diagrams_the_api_answers(
    server: Server, browser: WebDriver, tmp_path: Path, modality: str, model: str
) -> None:
    """The signal example by the default model (signal-sublevel: H0), and an uploaded image
    by a model whose recipe, image-cubical, merges H0 and H1 pairs."""
    name, route = EXAMPLES[modality]
    path = EXAMPLES_DIR / name
    browser.get(f"{server.url}/")
    if model:
        browser.find_element(By.CSS_SELECTOR, "#settings summary").click()
        option = f"#model-select option[value='{model}']"
        WebDriverWait(browser, ANSWER_TIMEOUT_S).until(
            lambda driver: driver.find_elements(By.CSS_SELECTOR, option)
        )
        Select(browser.find_element(By.ID, "model-select")).select_by_value(model)
        browser.find_element(By.ID, "file-input").send_keys(str(path))
    else:
        browser.find_element(By.CSS_SELECTOR, f"button[data-example='{name}']").click()
    assert wait_for_answer(browser) == "done", browser.find_element(By.ID, "error").text
    save_screenshot(browser, tmp_path / f"diagrams-{modality}.png")
    recipe = api_answer(server, path, route, model)["model"]["recipe"]
    response = api_topology(server, path, route, recipe, headers={})
    assert response.status_code == 200, response.text
    expected = response.json()
    assert expected["homology_dimensions"] == ([0] if modality == "signal" else [0, 1])
    assert not browser.find_element(By.ID, "diagrams-error").is_displayed()

    # One diagram per channel, each point one pair of the API's, in its order, with its
    # homology dimension; the legend counts the pairs of each dimension.
    drawn = browser.execute_script(DIAGRAMS_JS)
    assert [plot["channel"] for plot in drawn] == ["0", "1", "2"]
    answered = zip(expected["diagrams"], expected["dimensions"], strict=True)
    for plot, (pairs, dimensions) in zip(drawn, answered, strict=True):
        points = np.array(plot["points"], dtype=np.float64).reshape(-1, 5)
        assert len(points) == len(pairs) > 1
        labelled = [[*pair, k] for pair, k in zip(pairs, dimensions, strict=True)]
        assert points[:, :3].tolist() == labelled
        assert plot["legend"] == [
            f"H{k}: {dimensions.count(k)} pairs" for k in expected["homology_dimensions"]
        ]
        # Placed by their numbers: centres linear in birth (across) and death (up), one
        # scale on both axes.
        births, deaths, across, up = points[:, 0], points[:, 1], points[:, 3], points[:, 4]
        x_scale, x_offset = np.polyfit(births, across, 1)
        y_scale, y_offset = np.polyfit(deaths, up, 1)
        assert x_scale > 0 and math.isclose(y_scale, -x_scale, rel_tol=1e-9)
        np.testing.assert_allclose(across, x_offset + x_scale * births, atol=1e-6)
        np.testing.assert_allclose(up, y_offset + y_scale * deaths, atol=1e-6)
    every_dimension = {k for dimensions in expected["dimensions"] for k in dimensions}
    assert every_dimension == set(expected["homology_dimensions"])


@pytest.fixture
def keyed_browser(strict_server: Server, browser: WebDriver) -> Iterator[WebDriver]:
    """The strict server's page with its API key stored for this tab, removed afterwards."""
    browser.get(f"{strict_server.url}/")
    browser.execute_script(
        f"sessionStorage.setItem('{API_KEY_STORAGE}', arguments[0])", *KEY.values()
    )
    yield browser
    browser.execute_script(f"sessionStorage.removeItem('{API_KEY_STORAGE}')")


def test_a_topology_error_is_shown_and_the_pis_stay(
    strict_server: Server, keyed_browser: WebDriver, tmp_path: Path
) -> None:
    """The strict server caps exact topology below the photo crop's 3,072 values: the PI
    route answers (compare=true has no such cap), the topology route 413."""
    browser = keyed_browser
    name, route = EXAMPLES["image"]
    browser.find_element(By.CSS_SELECTOR, f"button[data-example='{name}']").click()
    assert wait_for_answer(browser) == "done", browser.find_element(By.ID, "error").text
    save_screenshot(browser, tmp_path / "diagrams-error.png")
    recipe = {"name": "image-raster", "params": {}}  # tiny-image's
    response = api_topology(strict_server, EXAMPLES_DIR / name, route, recipe, KEY)
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "PINET_MAX_TOPOLOGY_VALUES" in detail

    shown = browser.find_element(By.ID, "diagrams-error")
    assert shown.is_displayed() and shown.text == detail
    assert not browser.find_elements(By.CSS_SELECTOR, "#diagrams svg")
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert browser.find_element(By.ID, "result").is_displayed()
    canvases = canvas_pixels(browser, "#channels canvas")
    assert [kind for kind, _ in canvases] == ["exact", "pinet"] * 3
    assert all(len(np.unique(rgba.reshape(-1, 4), axis=0)) > 10 for _, rgba in canvases[::2])


def test_malformed_csv_shows_the_api_message(
    server: Server, browser: WebDriver, tmp_path: Path
) -> None:
    path = tmp_path / "malformed.csv"
    path.write_text("acc_x,acc_y\n0.1,0.2\n0.3,oops\n")
    detail = httpx.post(
        f"{server.url}/v1/signals/pi", files={"file": (path.name, path.read_bytes())}
    ).json()["detail"]

    assert upload(browser, server, path) == "error"
    assert browser.find_element(By.ID, "error").text == detail
    assert "row 2" in detail
    assert not browser.find_element(By.ID, "result").is_displayed()
    save_screenshot(browser, tmp_path / "page-error.png")


def test_api_key_field_unlocks_a_server_that_needs_one(
    strict_server: Server, browser: WebDriver
) -> None:
    browser.get(f"{strict_server.url}/")
    browser.find_element(By.CSS_SELECTOR, "button[data-example='hapt-standing.csv']").click()
    assert wait_for_answer(browser) == "error"
    assert "X-API-Key header is missing" in browser.find_element(By.ID, "error").text

    browser.find_element(By.CSS_SELECTOR, "#settings summary").click()  # show the key field
    key = browser.find_element(By.ID, "api-key")
    key.send_keys(KEY["X-API-Key"])
    key.send_keys("\t")  # leave the field: its change event stores the key
    WebDriverWait(browser, ANSWER_TIMEOUT_S).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, "#model-select option")[1:]
    )
    options = browser.find_elements(By.CSS_SELECTOR, "#model-select option")
    assert [o.get_attribute("value") for o in options] == [
        "",
        "tiny-image",
        "tiny-image-cubical",
        "tiny-image-rips",
        "tiny-signal",
        "tiny-signal-onnx",
        "tiny-signal-per-channel",
    ]

    browser.find_element(By.CSS_SELECTOR, "button[data-example='photo-crop.png']").click()
    assert wait_for_answer(browser) == "done", browser.find_element(By.ID, "error").text
    assert browser.find_element(By.ID, "model-name").text == "tiny-image"
