"""The CPU cost of one dropout (forward and backward): torch's kernel, sag's mask as it was
drawn until 2026-12-07, and sag's ``Dropout`` of this checkout, in one process.

``scautogenome.nn._units.Dropout`` draws its CPU mask with ``torch.rand``. Until 2026-12-07
it compared the draws into a bool mask and cast that to the input's type
(``(torch.rand(shape) < keep).to(dtype).mul_(1 / keep)``, kept here as ``before``); since then
a float32 input's mask is written over the draws in place (``draws.lt_(keep)``), the same
values without the bool mask and the cast. Each variant's forward and backward pass on a
``rows x genes`` float32 input is timed in CPU seconds (``time.process_time``), the variants
alternating, ``--repeat`` rounds of ``--calls`` calls each; the median round is reported, and
the ratios to torch's kernel and to ``before``. The three masks are checked to keep the same
law (share kept within 1% of ``1 - p``) and ``before`` and ``now`` to draw identical masks
from one seed. Rows go to ``benchmarks/dropout_kernel.jsonl``.

Usage (not part of CI; about a minute)::

    OMP_NUM_THREADS=1 python benchmarks/dropout_kernel.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHAPES = ((64, 2000), (128, 2000), (256, 2000), (128, 615), (64, 16000), (128, 512))


def main() -> None:
    import torch

    import scautogenome as sag
    from scautogenome.nn._units import Dropout

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--p", type=float, default=0.2, help="dropout probability")
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--out", default=str(HERE / "dropout_kernel.jsonl"))
    args = p.parse_args()
    torch.set_num_threads(1)
    keep = 1.0 - args.p

    def before(x):
        mask = (torch.rand(x.shape, device=x.device) < keep).to(x.dtype).mul_(1.0 / keep)
        return x * mask

    now = Dropout(args.p).train()
    variants = {
        "torch": lambda x: torch.nn.functional.dropout(x, args.p, training=True),
        "before": before,
        "now": now,
    }
    rows = []
    for shape in SHAPES:
        x0 = torch.rand(shape)
        for name, fn in variants.items():  # the same law
            share = float((fn(x0) != 0).float().mean())
            assert abs(share - keep) < 0.01, (name, shape, share)
        torch.manual_seed(0)
        a = before(x0)
        torch.manual_seed(0)
        assert torch.equal(a, now(x0)), "before and now drew other masks"
        times = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, fn in variants.items():
                x = x0.clone().requires_grad_(True)
                start = time.process_time()
                for _ in range(args.calls):
                    fn(x).sum().backward()
                times[name].append((time.process_time() - start) / args.calls * 1e3)
        ms = {name: statistics.median(t) for name, t in times.items()}
        row = {
            "shape": list(shape),
            "p": args.p,
            "ms": {k: round(v, 4) for k, v in ms.items()},
            "now_over_torch": round(ms["now"] / ms["torch"], 3),
            "now_over_before": round(ms["now"] / ms["before"], 3),
            "sag": sag.__version__,
            "torch": torch.__version__,
        }
        rows.append(row)
        print(
            f"{shape[0]:4d} x {shape[1]:5d}: torch {ms['torch']:.3f} ms, before {ms['before']:.3f}, "
            f"now {ms['now']:.3f} (now/torch {row['now_over_torch']:.2f}x, now/before "
            f"{row['now_over_before']:.2f}x)",
            flush=True,
        )
    with open(args.out, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
