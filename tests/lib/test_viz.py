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
