"""?format=png on a real server: a decodable picture of the learned PIs, one panel per
channel, with compare=true a second row of exact PIs; panels drawn as the PIs are stored."""

from __future__ import annotations

import io

import httpx
import numpy as np
from PIL import Image

from pinet.tda import get_recipe
from service.render import pi_figure
from tests.service.helpers import IMAGE, SIGNAL, png


def picture(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.format == "PNG"
    return image


def test_signal_png_and_compare_adds_a_row(client: httpx.Client) -> None:
    body = {"signal": SIGNAL.tolist()}
    learned = picture(client.post("/v1/signals/pi", params={"format": "png"}, json=body))
    width, height = learned.size
    assert 400 <= width <= 2000 and 150 <= height <= 1000  # three panels side by side
    assert len(learned.getcolors(maxcolors=1 << 16) or ()) > 50  # PIs, not a blank canvas
    both = picture(
        client.post("/v1/signals/pi", params={"format": "png"}, json=body | {"compare": True})
    )
    assert both.width == width and both.height > 1.5 * height


def test_image_upload_png_with_compare_adds_a_row(client: httpx.Client) -> None:
    """Two rows of panels (learned, exact) against one: taller by about a row, as wide."""
    upload = {"file": ("i.png", png(IMAGE.transpose(1, 2, 0)))}

    def drawn(compare: str) -> Image.Image:
        return picture(
            client.post(
                "/v1/images/pi", params={"format": "png"}, files=upload, data={"compare": compare}
            )
        )

    learned, both = drawn("false"), drawn("true")
    assert both.width == learned.width
    assert both.height > 1.5 * learned.height


def test_panels_show_high_persistence_at_the_top() -> None:
    """Row 0 of a stored PI is the highest persistence bin: it is drawn at the top, over the
    recipe grid's birth and persistence values, one panel per channel and row."""
    grid = get_recipe("signal-sublevel").grid
    rng = np.random.default_rng(3)
    learned, exact = rng.random((2, 3, 50, 50), dtype=np.float32)
    figure = pi_figure(learned, grid, exact)
    panels = [axes for axes in figure.get_axes() if axes.images]
    assert len(panels) == 6
    for axes, pi in zip(panels, [*learned, *exact], strict=True):
        image = axes.images[0]
        np.testing.assert_array_equal(image.get_array(), pi)
        assert image.origin == "upper"
        bottom, top = axes.get_ylim()
        assert bottom == grid.persistence_edges[0][0] and top == grid.persistence_edges[1][-1]
        assert (axes.get_xlabel(), axes.get_ylabel()) == ("birth", "persistence")
