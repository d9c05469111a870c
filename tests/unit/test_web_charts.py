"""The web pages' SVG charts: labelled for screen readers, escaped, and drawn from the numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from causeway.hub.web import charts

SVG = "{http://www.w3.org/2000/svg}"


def test_a_forest_plot_is_a_labelled_image_with_one_interval_per_term() -> None:
    svg = charts.forest(
        [charts.Interval("age", 0.5, 0.25, 0.75), charts.Interval("<b>sex</b>", -1.0, -2.0, 0.0)],
        chart_id="f",
        title="Coefficients",
    )
    root = ET.fromstring(svg)  # well-formed: a label cannot break out of its element
    assert root.get("role") == "img" and root.get("aria-labelledby") == "f-title f-desc"
    assert root.find(f"{SVG}title").text == "Coefficients"
    assert "<b>" not in svg and "&lt;b&gt;sex&lt;/b&gt;" in svg
    assert len(root.findall(f"{SVG}g")) == 2  # one point with its interval per term


def test_survival_curves_step_down_at_each_time_from_one() -> None:
    svg = charts.survival(
        [charts.Curve("all", (1.0, 2.0), (0.5, 0.25))], chart_id="k", title="KM", x_label="days"
    )
    path = ET.fromstring(svg).find(f"{SVG}path").get("d")
    steps = re.findall(r"H([\d.]+)V([\d.]+)", path)
    assert path.startswith("M50.0,15.0") and len(steps) == 2  # starts at survival 1 at time 0
    heights = [float(v) for _h, v in steps]
    assert heights == sorted(heights)  # each step lower on the page: survival only falls
