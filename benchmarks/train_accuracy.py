"""Accuracy runs of the model zoo on CPU: LeNet-5 on glyphs() and digits(), and transfer learning.

    python benchmarks/train_accuracy.py                 # everything (a few minutes on 2 cores)
    python benchmarks/train_accuracy.py lenet-digits    # one task
    python benchmarks/train_accuracy.py --threads 1     # on a busy machine, one thread is faster

Prints, per run, the test accuracy, the training time (wall clock and CPU
time of this process) and the settings. Targets from the course's issue:
LeNet-5 >= 99 % on glyphs() digits and >= 97 % on digits(), each in at most
two minutes of training; the shipped weights fine-tuned on 10 labels per class
clearly beat the same network trained from scratch.
"""

from __future__ import annotations

import argparse
import time

import torch

from cnnlab import data, models, train
from cnnlab.data import transforms as T


def _timed_fit(model, tr, te, **kwargs):
    t, c = time.perf_counter(), time.process_time()
    h = train.fit(model, tr, te, **kwargs)
    return h, time.perf_counter() - t, time.process_time() - c


def lenet_glyphs(args):
    t = time.perf_counter()
    tr, te = data.glyphs("train", size=32), data.glyphs("test", size=32)
    t_data = time.perf_counter() - t
    h, wall, cpu = _timed_fit(models.lenet5(), tr, te, epochs=3, batch_size=128, lr=3e-3, scheduler="onecycle",
                              seed=0, progress=args.progress, device="cpu")
    print(f"LeNet-5 on glyphs() digits 32x32 (60,000 train / 10,000 test; made in {t_data:.1f} s): "
          f"test accuracy {h['val_acc'][-1]:.4f} (per epoch {[round(a, 4) for a in h['val_acc']]}); "
          f"training {wall:.0f} s wall, {cpu:.0f} s CPU; 3 epochs, batch 128, Adam one-cycle 3e-3")


def lenet_digits(args):
    tr = data.digits("train", transform=T.RandomAffine(10, 0.08, (0.9, 1.1)))
    te = data.digits("test")
    h, wall, cpu = _timed_fit(models.lenet5(), tr, te, epochs=20, batch_size=32, lr=3e-3, scheduler="onecycle",
                              seed=0, progress=args.progress, device="cpu")
    print(f"LeNet-5 on digits() 32x32 (1,437 train / 360 test): test accuracy {h['val_acc'][-1]:.4f}; "
          f"training {wall:.0f} s wall, {cpu:.0f} s CPU; 20 epochs, batch 32, random affine augmentation, "
          f"Adam one-cycle 3e-3")


def transfer(args):
    info = models.pretrained_info("resnet20-letters")
    print(f"Shipped weights resnet20-letters: {info['source_task']}; source test accuracy "
          f"{info['test_accuracy']:.4f}")
    targets = {
        "glyphs() digits": (data.glyphs("train", n=5000, size=28, seed=1), data.glyphs("test", n=2000, size=28, seed=1)),
        "digits() (real handwriting)": (data.digits("train", size=28), data.digits("test", size=28)),
    }
    for name, (pool, test) in targets.items():
        few = pool.take_per_class(10, seed=0)
        for start in ("scratch", "fine-tune", "linear probe"):
            accs = []
            for seed in (0, 1):
                torch.manual_seed(seed)
                if start == "scratch":
                    m = models.resnet_cifar(20, width=8, in_channels=1, num_classes=10)
                else:
                    m = models.pretrained("resnet20-letters", num_classes=10)
                    if start == "linear probe":
                        for pname, p in m.named_parameters():
                            p.requires_grad = pname.startswith("fc.")
                train.fit(m, few, epochs=30, batch_size=20, lr=1e-2 if start == "linear probe" else 1e-3,
                          seed=seed, progress=False, device="cpu")
                accs.append(train.evaluate(m, test, device="cpu")["accuracy"])
            print(f"  {name}, 10 labels/class, {start:12s}: test accuracy "
                  f"{' / '.join(f'{a:.3f}' for a in accs)} (seeds 0 / 1, {len(test)} test images)")


TASKS = {"lenet-glyphs": lenet_glyphs, "lenet-digits": lenet_digits, "transfer": transfer}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tasks", nargs="*", metavar="TASK", help=f"any of {', '.join(TASKS)} (default: all)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--progress", action="store_true", help="show the progress bars")
    args = p.parse_args(argv)
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        p.error(f"unknown task(s) {unknown}; choose among {', '.join(TASKS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for task in args.tasks or TASKS:
        TASKS[task](args)


if __name__ == "__main__":
    main()
