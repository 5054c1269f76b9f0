"""The "raster" family: an image network that reads each channel's row-major path, as the
`image-raster` recipe does, and its smallest input (training builds it: test_lowrank.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinet.nets import build_network
from pinet.tda.recipes import ImageRaster


def test_the_pis_depend_on_the_raster_path_alone() -> None:
    """Two images with one row-major path (8 x 8 and 4 x 16) have one diagram, so one exact
    PI; the raster network, which reads the path, gives them one PI too, where a 2-D trunk
    sees two different images."""
    torch.manual_seed(0)
    square = torch.rand(2, 3, 8, 8)
    wide = square.reshape(2, 3, 4, 16)
    recipe = ImageRaster()
    np.testing.assert_array_equal(recipe.images(square[0].numpy()), recipe.images(wide[0].numpy()))
    raster = build_network("image", 3, family="raster", per_channel=True, widths=(4, 8)).eval()
    planar = build_network("image", 3, family="lowrank", per_channel=True, widths=(4, 8)).eval()
    with torch.no_grad():
        assert torch.equal(raster(square), raster(wide))
        assert not torch.allclose(planar(square), planar(wide))


def test_the_smallest_image_is_the_smallest_square_whose_path_fills_the_trunk() -> None:
    """Seven blocks halve a path six times: 64 values, an 8 x 8 image (a 2-D trunk needs
    64 x 64)."""
    network = build_network("image", 1, family="raster", widths=(2,) * 7).eval()
    assert network.min_input_size == 8
    assert build_network("image", 1, family="lowrank", widths=(2,) * 7).min_input_size == 64
    assert network(torch.rand(1, 1, 8, 8)).shape == (1, 1, 50, 50)
    with pytest.raises(ValueError, match="at least 8"):
        network(torch.rand(1, 1, 7, 7))
    assert build_network("image", 1, family="raster", widths=(2,) * 6).min_input_size == 6
