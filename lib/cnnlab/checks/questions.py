"""The questions of each assignment: id (the nbgrader grade_id of its test
cell), title and points -- the one place these are written down.  The
notebooks' test cells carry the same points (a test checks that), the
self-check summary prints them, the assignment tests grade against them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    points: float
    manual: bool = False   # graded by hand (a written answer)


ASSIGNMENTS: dict[str, tuple[Question, ...]] = {
    "ps1": (
        Question("q1a", "output_size: filters that fit", 1),
        Question("q1b", "output_size: filters that do not fit", 1),
        Question("q2a", "conv2d_loop: channels, filters and bias", 2),
        Question("q2b", "conv2d_loop: stride and padding", 2),
        Question("q3", "conv2d_grouped: groups and depthwise", 2),
        Question("q4", "im2col: the layout of torch's unfold", 2),
        Question("q5a", "conv2d_im2col: results", 2),
        Question("q5b", "conv2d_im2col: vectorised", 1),
        Question("q6a", "convolve2d: true convolution", 1),
        Question("q6b", "is_flip_invariant: when convolution equals correlation", 1),
    ),
    "ps2": (
        Question("q1", "max_pool_forward", 2),
        Question("q2a", "max_pool_backward: separate windows", 1),
        Question("q2b", "max_pool_backward: overlapping windows and ties", 2),
        Question("q3", "avg_pool_forward", 1),
        Question("q4", "avg_pool_backward", 2),
        Question("q5a", "conv2d_backward: dx", 3),
        Question("q5b", "conv2d_backward: dw", 2),
        Question("q5c", "conv2d_backward: db", 1),
    ),
    "ps3": (
        Question("q1", "LeNet5: layers and forward pass", 3),
        Question("q2a", "layer_table: output shapes and parameters per layer", 2),
        Question("q2b", "LeNet-5 by hand: sizes and parameters", 1),
        Question("q3", "SmallVGG: a VGG-style network", 2),
        Question("q4", "train LeNet-5 to 90 % on held-out digits", 3),
        Question("q5", "written: why stacks of 3x3 convolutions", 2, manual=True),
    ),
    "ps4": (
        Question("q1a", "BasicBlock: identity shortcut", 2),
        Question("q1b", "BasicBlock: projection shortcut", 2),
        Question("q2", "SmallResNet", 2),
        Question("q3", "freeze: which parameters train", 2),
        Question("q4", "fine-tune the pretrained ResNet-20 to 85 %", 3),
        Question("q5", "written: what freezing does", 2, manual=True),
    ),
}


def questions(assignment: str) -> tuple[Question, ...]:
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        raise ValueError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}") from None


def total_points(assignment: str) -> float:
    return sum(q.points for q in questions(assignment))
