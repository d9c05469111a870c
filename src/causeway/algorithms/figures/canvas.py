"""What every figure shares: a new figure on the Agg canvas, the axes to draw into, and saving
to a file.

Figures are :class:`matplotlib.figure.Figure` objects made here, never through pyplot: no global
state is shared between calls, and nothing needs a display.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from causeway.algorithms.figures.files import format_of

__all__ = ["DPI", "Axes", "Figure", "figure_of", "new_figure", "save"]

DPI = 150


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas, laid out by matplotlib's
    constrained layout (labels never overlap the axes)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_of(ax: Axes) -> Figure:
    """The figure an axes given by the caller belongs to (the root one, past any subfigure)."""
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    return figure


def save(figure: Figure, path: Path | str) -> Path:
    """Write ``figure`` to ``path`` as PNG, SVG or PDF by its suffix; returns the path."""
    target = Path(path)
    figure.savefig(target, format=format_of(target), dpi=DPI)
    return target
