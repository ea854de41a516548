"""cnnlab.viz: the figures of the book draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnnlab import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_show_matrix_writes_every_value_in_its_cell():
    a = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0]])
    ax = viz.show_matrix(a)
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert len(ax.texts) == a.size
    for (i, j), v in np.ndenumerate(a):
        assert texts[(i, j)] == str(v)


def test_show_matrix_text_contrasts_with_its_cell():
    a = np.array([[0.0, 1.0]])
    for cmap, dark_value in [("Greys", 1.0), ("Greys_r", 0.0)]:
        ax = viz.show_matrix(a, cmap=cmap)
        colours = {t.get_text(): t.get_color() for t in ax.texts}
        assert colours[f"{dark_value:g}"] == "white"
        assert colours[f"{1 - dark_value:g}"] == "black"


def test_show_matrix_formats_and_outlines_windows():
    a = np.arange(16).reshape(4, 4) / 4
    ax = viz.show_matrix(a, fmt="{:.2f}", windows=[(0, 0, 2, 2), (2, 2, 2, 2, "green")])
    assert "0.25" in [t.get_text() for t in ax.texts]
    rects = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    assert len(rects) == 2
    assert rects[0].get_xy() == (-0.5, -0.5) and rects[0].get_width() == 2
    assert rects[1].get_xy() == (1.5, 1.5)


def test_show_matrix_draws_a_vector_as_one_row_and_drops_unit_axes():
    assert len(viz.show_matrix(np.arange(5)).texts) == 5
    assert len(viz.show_matrix(np.ones((1, 1, 3, 2))).texts) == 6


def test_show_matrix_rejects_a_volume_naming_the_argument():
    with pytest.raises(ValueError, match="a must be a 2-D array.*shape \\(2, 3, 3\\)"):
        viz.show_matrix(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="windows"):
        viz.show_matrix(np.ones((3, 3)), windows=[(0, 0)])


def test_show_images_one_axes_per_image_and_symmetric_scale_for_signed_maps():
    rng = np.random.default_rng(0)
    fmap = rng.standard_normal((8, 8))
    fig, axes = viz.show_images([np.ones((8, 8)), fmap, rng.random((8, 8, 3))],
                                titles=["a", "b", "c"], signed=[False, True, False], ncols=2)
    assert len(axes) == 3 and len(fig.axes) == 3       # the unused fourth cell is removed
    assert [ax.get_title() for ax in axes] == ["a", "b", "c"]
    lo, hi = axes[1].images[0].get_clim()
    assert lo == -hi == -np.abs(fmap).max()


def test_show_images_checks_its_arguments():
    with pytest.raises(ValueError, match="titles has 1 entries for 2 images"):
        viz.show_images([np.ones((2, 2))] * 2, titles=["x"])
    with pytest.raises(ValueError, match=r"images\[0\] must have shape"):
        viz.show_images([np.ones((2, 2, 2, 2))])
    with pytest.raises(ValueError, match="empty"):
        viz.show_images([])


# --------------------------------------------------------------------------- colour-blind-safe colours

def _srgb_to_linear(c):
    c = np.asarray(c, float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _simulate(rgb, kind):
    """Colour as seen with a dichromacy (Machado et al. 2009, severity 1)."""
    m = {"protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
         "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
         "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]}
    return np.clip(np.asarray(m[kind]) @ _srgb_to_linear(rgb), 0, 1)


def test_line_colours_stay_distinct_for_colour_blind_readers():
    """Every pair of the first six line colours differs clearly under each dichromacy,
    where matplotlib's former default (tab10) confuses some pairs."""
    from matplotlib.colors import to_rgb

    def min_distance(colours):
        rgb = [to_rgb(c) for c in colours]
        return min(np.linalg.norm(_simulate(a, k) - _simulate(b, k))
                   for k in ("protan", "deutan", "tritan")
                   for i, a in enumerate(rgb) for b in rgb[i + 1:])
    ours = min_distance(viz.LINE_COLORS[:6])
    tab10 = min_distance(plt.get_cmap("tab10").colors[:6])
    assert ours > 0.1 and ours > 2 * tab10, (ours, tab10)


def test_use_style_sets_the_safe_defaults():
    import matplotlib as mpl
    with mpl.rc_context():
        viz.use_style({"figure.dpi": 123})
        assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == viz.LINE_COLORS
        assert mpl.rcParams["image.cmap"] == viz.SEQUENTIAL == "viridis"
        assert mpl.rcParams["figure.dpi"] == 123
        line, = plt.plot([0, 1])
        assert line.get_color() == viz.color("blue")
    assert viz.colors(10)[8] == viz.LINE_COLORS[0]
    assert viz.color("vermillion") == "#D55E00"
    with pytest.raises(ValueError, match="color name must be one of .*'vermillion'.*got 'red'"):
        viz.color("red")


def test_outlines_and_signed_maps_use_the_safe_palette():
    ax = viz.show_matrix(np.ones((2, 2)), windows=[(0, 0, 1, 1)])
    rect = [p for p in ax.patches if type(p).__name__ == "Rectangle"][0]
    assert tuple(rect.get_edgecolor()[:3]) == pytest.approx(matplotlib.colors.to_rgb(viz.color("vermillion")))
    fig, axes = viz.show_images([np.array([[-1.0, 1.0]])], signed=True)
    assert axes[0].images[0].get_cmap().name == viz.SIGNED


def test_chapters_use_only_colour_blind_safe_colours():
    """Maps named in the chapters are in viz.SAFE_COLORMAPS; no chapter names a colour of
    matplotlib's tab10 cycle, and each sets the safe defaults first (viz.use_style)."""
    from pathlib import Path
    import re
    chapters = sorted((Path(__file__).resolve().parents[2] / "book" / "chapters").glob("*.md"))
    assert chapters
    problems = []
    for path in chapters:
        text = path.read_text()
        for cmap in re.findall(r"cmap\s*=\s*[\"']([\w.]+)[\"']", text):
            if cmap not in viz.SAFE_COLORMAPS:
                problems.append(f"{path.name}: cmap {cmap!r}")
        for colour in re.findall(r"[\"'](tab:\w+|C\d)[\"']|(cm\.tab\w+)", text):
            problems.append(f"{path.name}: colour {colour}")
        if "```{code-cell}" in text and "viz.use_style(" not in text:
            problems.append(f"{path.name}: does not call viz.use_style()")
    assert not problems, "\n".join(problems)
