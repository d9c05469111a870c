"""Figures of released results, drawn with matplotlib (the optional ``plot`` extra:
``pip install causeway[plot]``).

One module per kind of figure: :mod:`.survival` (Kaplan–Meier curves with their numbers at risk),
:mod:`.distribution` (the agreed histogram and a box plot of released quantiles), :mod:`.forest`
(ratios and coefficients of models, pooled estimates of a meta-analysis); :mod:`.canvas` holds
what they share (the one import of matplotlib, new figures on the Agg canvas, saving) and
:mod:`.files` the file formats, which the CLI checks without importing matplotlib.

The results' ``plot()`` methods import these modules when called, so nothing imports matplotlib
until a figure is asked for. Each draws on a :class:`matplotlib.figure.Figure` of its own (never
pyplot's global state) or into the ``ax`` it is given, and returns the figure.

Importing this package is where a missing matplotlib is found (it runs before any of its
modules): :class:`~causeway.model.errors.ExtraNotInstalled` names the extra to install.
"""

from causeway.model.errors import ExtraNotInstalled

try:
    import matplotlib  # noqa: F401
except ImportError:
    raise ExtraNotInstalled(
        "figures need matplotlib, which is not installed: pip install causeway[plot]"
    ) from None

from causeway.algorithms.figures.files import FORMATS, format_of

__all__ = ["FORMATS", "format_of"]
