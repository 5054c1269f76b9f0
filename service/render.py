"""Pictures of persistence images for `?format=png`: one panel per channel, the learned PIs
in one row and, with compare=true, the exact ones in a row below.

Panels are drawn as the PIs are stored: row 0 is the highest persistence bin, so imshow with
origin='upper' over the recipe grid's extent puts high persistence at the top, and the axes
carry the grid's birth and persistence values. Figures are built with matplotlib's
object-oriented API on the Agg canvas, so no pyplot state or GUI backend is involved.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pinet.tda.images import PersistenceImageGrid

PANEL_INCHES = 2.6  # one 50 x 50 PI with its axes, ticks and colour bar stays legible
DPI = 100
COLOURMAP = "viridis"  # perceptually uniform: equal steps in PI value look equally different

# Matplotlib is not thread-safe (shared font and text caches); routes render in worker
# threads, so one picture is drawn at a time.
_DRAWING = threading.Lock()


def pi_figure(
    learned: np.ndarray,
    grid: PersistenceImageGrid,
    exact: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """A figure of `(C, 50, 50)` learned PIs, one panel per channel, and with `exact` (same
    shape) a second row of exact PIs. Both rows of a channel share one colour scale."""
    rows = [("PI-Net (learned)", learned)]
    if exact is not None:
        rows.append(("exact", exact))
    channels = learned.shape[0]
    stacked = np.stack([pis for _, pis in rows])
    # Per channel, the brightest value in either row: equal colours mean equal values.
    brightest = stacked.max(axis=(0, 2, 3))
    births, persistences = grid.birth_edges, grid.persistence_edges
    extent = (births[0][0], births[1][-1], persistences[0][0], persistences[1][-1])

    figure = Figure(
        figsize=(PANEL_INCHES * channels, PANEL_INCHES * len(rows) + 0.4),
        dpi=DPI,
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    if title:
        figure.suptitle(title)
    subfigures = figure.subfigures(len(rows), 1, squeeze=False)[:, 0]
    for row, (label, pis) in zip(subfigures, rows, strict=True):
        row.suptitle(label, fontweight="bold")
        for channel, axes in enumerate(row.subplots(1, channels, squeeze=False)[0]):
            image = axes.imshow(
                pis[channel],
                origin="upper",
                extent=extent,
                aspect="auto",
                cmap=COLOURMAP,
                vmin=0.0,
                vmax=brightest[channel] if brightest[channel] > 0 else 1.0,
            )
            axes.set_title(f"channel {channel}", fontsize="medium")
            axes.set_xlabel("birth")
            axes.set_ylabel("persistence")
            row.colorbar(image, ax=axes, shrink=0.8)
    return figure


def pi_png(
    learned: np.ndarray,
    grid: PersistenceImageGrid,
    exact: np.ndarray | None = None,
    title: str = "",
) -> bytes:
    """PNG bytes of `pi_figure(learned, grid, exact, title)`; CPU-bound, so call it off the
    event loop."""
    buffer = io.BytesIO()
    with _DRAWING:
        pi_figure(learned, grid, exact, title).savefig(buffer, format="png")
    return buffer.getvalue()
