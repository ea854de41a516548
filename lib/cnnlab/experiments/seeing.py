"""What a trained network looks at (chapter "What CNNs see").

Attribution maps for one image ``x`` (C, H, W) and a class ``target``, each an
(H, W) tensor, larger where the class score depends more on the pixel:

* :func:`saliency` -- ``|d score / d x|`` (Simonyan et al., 2014);
* :func:`occlusion` -- how much the probability of the class drops when a
  patch covering the pixel is greyed out (Zeiler and Fergus, 2014);
* :func:`grad_cam` -- the feature maps of a layer weighted by the mean
  gradient of the score, rectified and upsampled (Selvaraju et al., 2017);
* :func:`guided_backprop` -- the input gradient with negative gradients
  stopped at every ReLU (Springenberg et al., 2015).

Inputs that excite a unit or a layer: :func:`maximise` (gradient ascent on
the input with jitter and blur) and :func:`deep_dream` (ascent on a layer's
energy over several octaves). :func:`features` gives the penultimate features
for a t-SNE map (:func:`tsne`). :func:`object_task` makes images where the
answer is known (a shape on clutter, with its mask), and
:func:`object_localisation` trains a small network on them and measures how
much of each map falls on the object.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._args import check_int

__all__ = ["saliency", "occlusion", "grad_cam", "guided_backprop", "maximise", "deep_dream", "features", "tsne",
           "object_task", "object_localisation", "share_on", "OBJECT_SHAPES"]


def _image(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise TypeError(f"x must be one image tensor (C, H, W), got {type(x).__name__}"
                        f"{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}")
    return x.detach().float()


def _score(model: nn.Module, xb: torch.Tensor, target: int) -> torch.Tensor:
    out = model(xb)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not 0 <= int(target) < out.shape[1]:
        raise ValueError(f"target must be a class index between 0 and {out.shape[1] - 1}, got {target!r}")
    return out[:, int(target)]


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """``|d score_target / d x|``, the maximum over the channels: (H, W)."""
    xb = _image(x)[None].requires_grad_(True)
    (grad,) = torch.autograd.grad(_score(model, xb, target).sum(), xb)
    return grad.abs().amax(1)[0]


@torch.no_grad()
def occlusion(model: nn.Module, x: torch.Tensor, target: int, patch: int = 6, stride: int = 2,
              fill: float = 0.0) -> torch.Tensor:
    """Drop of the target's probability when a ``patch``×``patch`` square (value ``fill``) covers the
    pixel, averaged over the patches that cover it: (H, W). One batched forward pass per call."""
    x = _image(x)
    patch, stride = check_int(patch, "patch", minimum=1), check_int(stride, "stride", minimum=1)
    C, H, W = x.shape
    tops = list(range(0, max(H - patch, 0) + 1, stride))
    lefts = list(range(0, max(W - patch, 0) + 1, stride))
    batch = x.repeat(len(tops) * len(lefts), 1, 1, 1)
    for i, (t, l) in enumerate((t, l) for t in tops for l in lefts):
        batch[i, :, t:t + patch, l:l + patch] = fill
    base = torch.softmax(model(x[None]), 1)[0, int(target)]
    drops = base - torch.softmax(model(batch), 1)[:, int(target)]
    total, count = torch.zeros(H, W), torch.zeros(H, W)
    for i, (t, l) in enumerate((t, l) for t in tops for l in lefts):
        total[t:t + patch, l:l + patch] += drops[i]
        count[t:t + patch, l:l + patch] += 1
    return total / count.clamp(min=1)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int, layer: nn.Module) -> torch.Tensor:
    """Grad-CAM: ``ReLU(sum_k a_k A_k)`` with ``A_k`` the maps of ``layer`` and ``a_k`` the mean gradient
    of the score over map ``k``, upsampled (bilinear) to the input's size and scaled to a maximum of 1: (H, W)."""
    saved = {}
    hook = layer.register_forward_hook(lambda m, i, o: saved.__setitem__("a", o))
    try:
        xb = _image(x)[None].requires_grad_(True)        # a graph even when the weights are frozen
        score = _score(model, xb, target).sum()
    finally:
        hook.remove()
    if "a" not in saved:
        raise ValueError("layer was not called in the forward pass; pass a module of the model, e.g. model.layer3")
    acts = saved["a"]
    (grads,) = torch.autograd.grad(score, acts)
    cam = F.relu((grads.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=xb.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return cam / cam.max() if cam.max() > 0 else cam


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp(min=0) * (x > 0)


class _GuidedReLUModule(nn.Module):
    def forward(self, x):
        return _GuidedReLU.apply(x)


def guided_backprop(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Guided backpropagation: the gradient of the score with respect to the input, where every
    ``nn.ReLU`` module also stops negative gradients (on a copy of the model): (C, H, W)."""
    guided = copy.deepcopy(model).eval()
    swapped = 0
    for parent in guided.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                setattr(parent, name, _GuidedReLUModule())
                swapped += 1
    if not swapped:
        raise ValueError("the model has no nn.ReLU module to guide; guided backpropagation needs its ReLUs "
                         "as modules (functional relu calls cannot be changed from outside)")
    xb = _image(x)[None].requires_grad_(True)
    (grad,) = torch.autograd.grad(_score(guided, xb, target).sum(), xb)
    return grad[0]


def _blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])


def maximise(objective: Callable[[torch.Tensor], torch.Tensor], shape=(1, 28, 28), steps: int = 60,
             lr: float = 0.05, start: float = 0.5, jitter: int = 1, blur_every: int = 4, seed: int = 0,
             start_image: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """Gradient ascent on an input image to maximise ``objective(x)`` (x: (1, C, H, W) -> a number).

    From ``start_image`` or a grey image (``start``) with a little noise: each step rolls the image
    by up to ``jitter`` pixels (and back), normalises the gradient, blurs every ``blur_every`` steps
    and keeps the pixels in [0, 1]. Returns the image (C, H, W) and the final objective."""
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    if start_image is not None:
        x = _image(start_image)[None].clone()
    else:
        x = start + 0.05 * torch.randn(1, *shape, generator=g)
    for step in range(check_int(steps, "steps", minimum=1)):
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g)) if jitter else (0, 0)
        xr = torch.roll(x, (dy, dx), (2, 3)).requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(xr), xr)
        with torch.no_grad():
            x = torch.roll(xr + lr * grad / (grad.abs().mean() + 1e-8), (-dy, -dx), (2, 3))
            if blur_every and step % blur_every == blur_every - 1:
                x = _blur(x)
            x = x.clamp(0, 1)
    with torch.no_grad():
        value = float(objective(x))
    return x[0], value


def deep_dream(model: nn.Module, image: torch.Tensor, layer: nn.Module, octaves: int = 3, scale: float = 1.4,
               steps: int = 10, lr: float = 0.02, jitter: int = 2, seed: int = 0) -> torch.Tensor:
    """DeepDream (Mordvintsev et al., 2015): gradient ascent on the energy ``mean(h^2)`` of ``layer``'s
    output, first on the image shrunk ``octaves - 1`` times by ``scale``, then on each larger
    octave with the detail found so far enlarged and added; random shifts (``jitter``) at each step
    keep the patterns from locking to the pixel grid. Returns the dreamed image (C, H, W)."""
    image = _image(image)
    octaves = check_int(octaves, "octaves", minimum=1)
    sizes = [tuple(max(8, round(s / scale ** k)) for s in image.shape[-2:]) for k in range(octaves)][::-1]
    saved = {}
    hook = layer.register_forward_hook(lambda m, i, o: saved.__setitem__("h", o))

    def energy(x):
        model(x)
        return saved["h"].pow(2).mean()

    detail = torch.zeros(1, *image.shape)
    try:
        for k, size in enumerate(sizes):
            base = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            dreamed, _ = maximise(energy, steps=steps, lr=lr, jitter=jitter, blur_every=0, seed=seed + k,
                                  start_image=(base + detail).clamp(0, 1)[0])
            detail = dreamed[None] - base
    finally:
        hook.remove()
    return (image[None] + detail)[0].clamp(0, 1)


@torch.no_grad()
def features(model: nn.Module, dataset, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The penultimate features (the input of the last ``nn.Linear``) of every image: (N, D), and the labels."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer whose input could be taken as its features")
    saved = []
    hook = linears[-1].register_forward_hook(lambda m, i, o: saved.append(i[0].detach().flatten(1)))
    was_training = model.training
    model.eval()
    try:
        xs, ys = dataset.tensors() if hasattr(dataset, "tensors") else map(torch.stack, zip(*dataset))
        for s in range(0, len(xs), batch_size):
            model(xs[s:s + batch_size])
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(saved), torch.as_tensor(ys)


def tsne(feats: torch.Tensor, seed: int = 0, perplexity: float = 30.0) -> torch.Tensor:
    """A 2-D t-SNE map of the rows of ``feats`` (scikit-learn, PCA initialisation): (N, 2)."""
    from sklearn.manifold import TSNE

    f = torch.as_tensor(feats, dtype=torch.float64).numpy()
    emb = TSNE(2, perplexity=min(float(perplexity), (len(f) - 1) / 3), init="pca", random_state=seed).fit_transform(f)
    return torch.from_numpy(emb)


# --------------------------------------------------------------------------
# a task whose answer is known
# --------------------------------------------------------------------------

#: the classes of :func:`object_task`
OBJECT_SHAPES = ("square", "cross", "disc")


def _shape_mask(kind: int, size: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = (size - 1) / 2
    if kind == 0:                                   # a square outline
        edge = (yy < 2) | (yy >= size - 2) | (xx < 2) | (xx >= size - 2)
        return edge
    if kind == 1:                                   # a plus sign
        return ((yy - c).abs() <= 1) | ((xx - c).abs() <= 1)
    return (yy - c) ** 2 + (xx - c) ** 2 <= (size / 2) ** 2   # a filled disc


def object_task(n: int = 2000, size: int = 28, object_size: int = 9, seed: int = 0):
    """Images where the answer is known: one shape of :data:`OBJECT_SHAPES` (the class) at a random
    place on a cluttered background of random strokes and noise that carry no information.

    Returns ``(dataset, masks)``: an :class:`~cnnlab.data.ImageDataset` of (1, size, size) images and
    a bool tensor (n, size, size) that is True on the object's bounding square.
    """
    from ..data import ImageDataset

    n, size = check_int(n, "n", minimum=1), check_int(size, "size", minimum=12)
    k = check_int(object_size, "object_size", minimum=5)
    if k > size - 2:
        raise ValueError(f"object_size ({k}) must be smaller than size - 2 ({size - 2})")
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    labels = torch.randint(0, len(OBJECT_SHAPES), (n,), generator=g)
    shapes = [_shape_mask(c, k).float() for c in range(len(OBJECT_SHAPES))]
    images = 0.25 * torch.rand(n, size, size, generator=g)
    for _ in range(3):                              # distractors: short straight strokes anywhere
        r = torch.randint(0, size - 6, (n, 2), generator=g)
        vertical = torch.rand(n, generator=g) < 0.5
        for i in range(n):
            y, x = int(r[i, 0]), int(r[i, 1])
            if vertical[i]:
                images[i, y:y + 6, x] = 0.8
            else:
                images[i, y, x:x + 6] = 0.8
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    pos = torch.randint(1, size - k, (n, 2), generator=g)
    for i in range(n):
        y, x = int(pos[i, 0]), int(pos[i, 1])
        images[i, y:y + k, x:x + k] = torch.maximum(images[i, y:y + k, x:x + k], shapes[int(labels[i])])
        masks[i, y:y + k, x:x + k] = True
    data = images.clamp(0, 1).mul(255).round().to(torch.uint8)[:, None]
    return ImageDataset(data, labels, list(OBJECT_SHAPES), name=f"object_task(n={n}, size={size})",
                        info=dict(seed=seed, object_size=k)), masks


def share_on(attribution: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean attribution on the mask divided by the mean attribution elsewhere (negative values count
    as 0): above 1 when a map weighs the masked object more than the background."""
    a = attribution.detach().clamp(min=0).float()
    inside, outside = a[mask].mean(), a[~mask].mean()
    return float(inside / outside.clamp(min=1e-12))


def object_localisation(n: int = 2000, epochs: int = 2, images: int = 8, seed: int = 0) -> dict:
    """Train a small ResNet (:func:`~cnnlab.models.resnet_cifar` of depth 8) on :func:`object_task` and
    compute Grad-CAM (on its last stage) and occlusion maps for ``images`` new test images.

    Returns ``{"model", "accuracy" (on 500 new images), "images", "labels", "masks", "grad_cam",
    "occlusion", "ratio_grad_cam", "ratio_occlusion"}``; the ratios are :func:`share_on` for each
    image (object against background).
    """
    from .. import models
    from ._common import train_and_test

    train_set, _ = object_task(n, seed=seed)
    test_set, test_masks = object_task(500, seed=seed + 1)
    run = train_and_test(lambda: models.resnet_cifar(8, len(OBJECT_SHAPES), in_channels=1, width=8), train_set,
                         test_set, epochs=epochs, lr=2e-3, batch_size=32, seed=seed)
    model = run["model"].eval()
    xs, ys = test_set.tensors()
    chosen = range(check_int(images, "images", minimum=1))
    cams = [grad_cam(model, xs[i], int(ys[i]), model.layer3) for i in chosen]
    occs = [occlusion(model, xs[i], int(ys[i]), patch=5, stride=1) for i in chosen]
    return dict(model=model, accuracy=run["accuracy"], images=xs[:len(cams)], labels=ys[:len(cams)],
                masks=test_masks[:len(cams)], grad_cam=cams, occlusion=occs,
                ratio_grad_cam=[share_on(c, m) for c, m in zip(cams, test_masks)],
                ratio_occlusion=[share_on(o, m) for o, m in zip(occs, test_masks)])
