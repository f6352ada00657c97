"""Fused attribute branches against a per-attribute loop of K modules, forward + backward.

Input: the backbone's feature map X (B, C, h, w) with ``requires_grad`` (ResNet-50 at 224:
(32, 2048, 7, 7)); output: the K attribute embeddings a_k (eq. 3) and the K attribute logits;
the backward goes from the attribute losses (``a3m.models.losses.attribute_losses``, the same
function for every candidate) into X and every branch parameter.

- ``loop``: what a direct transcription builds: K ``nn.Conv2d(C, d, 1)``, average pooling and K
  ``nn.Linear(d, C_k)``, called one after the other;
- ``fused conv``: one ``nn.Conv2d(C, K*d, 1)`` on the whole map, then pooling, and the grouped
  classifier (``GroupedAttributeClassifier``);
- ``fused, map (A3M)``: the model's path when it cannot pool first (``branch_bn_relu``, max
  pooling): the same 1x1 conv as one matrix product over the positions
  (``A3M._attribute_maps``), then pooling and the grouped classifier;
- ``fused, pool first (A3M)``: the model's default path (``A3M._attribute_embeddings``):
  average pooling first, then one linear map to K*d (exact: both are linear), then the grouped
  classifier.

All compute the same numbers (checked before timing). Printed: median seconds per
forward+backward over interleaved rounds and the speed-up of each fused form over the loop.
CUDA (when present) is measured the same way in float32 and under bf16 autocast.

    python benchmarks/bench_fused_heads.py               # K = 28, B = 32, C = 2048, d = 512
    python benchmarks/bench_fused_heads.py --smoke-test
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from benchlib import interleaved, machine_line, print_table
from torch import nn

from a3m.models.a3m import A3M
from a3m.models.features import BackboneSpec, FeatureExtractor
from a3m.models.losses import attribute_losses

CUB_ATTRIBUTE_CLASSES = (
    10, 16, 16, 16, 5, 16, 7, 16, 12, 16, 16, 15, 4, 16,
    16, 16, 16, 6, 6, 15, 5, 5, 5, 16, 16, 16, 16, 5,
)  # fmt: skip


class LoopBranches(nn.Module):
    """K separate branches (1x1 conv, average pooling) and K separate classifiers."""

    def __init__(self, channels: int, d: int, classes: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels, d, 1) for _ in classes)
        self.fcs = nn.ModuleList(nn.Linear(d, c) for c in classes)

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        embeddings = [conv(X).mean(dim=(2, 3)) for conv in self.convs]  # K x (B, d)
        logits = [fc(a) for fc, a in zip(self.fcs, embeddings, strict=True)]  # K x (B, C_k)
        return torch.stack(embeddings, dim=1), logits  # (B, K, d)


def fused_model(channels: int, d: int, classes: tuple[int, ...], loop: LoopBranches) -> A3M:
    """An A3M whose attribute branches and classifiers hold the loop's weights."""
    backbone = FeatureExtractor(BackboneSpec("identity", channels, 1, 1), nn.Identity())
    model = A3M(backbone, 10, classes, d=d)
    with torch.no_grad():
        model.attribute_conv.weight.copy_(torch.cat([c.weight for c in loop.convs]))
        model.attribute_conv.bias.copy_(torch.cat([c.bias for c in loop.convs]))
        model.attribute_fc.weight.copy_(torch.cat([f.weight for f in loop.fcs]))
        model.attribute_fc.bias.copy_(torch.cat([f.bias for f in loop.fcs]))
    return model


def candidates(
    model: A3M, loop: LoopBranches, X: torch.Tensor, targets: torch.Tensor, amp: bool
) -> dict[str, Callable[[], tuple[torch.Tensor, list[torch.Tensor]]]]:
    """Forward functions X -> (A (B, K, d), K logits) of each candidate."""
    B, K, d = X.shape[0], model.num_attributes, model.d

    def fused_conv() -> tuple[torch.Tensor, list[torch.Tensor]]:
        A = model.attribute_conv(X).mean(dim=(2, 3)).view(B, K, d)  # conv on the whole map
        return A, model.attribute_fc(A)

    def fused_map() -> tuple[torch.Tensor, list[torch.Tensor]]:
        A = model._attribute_maps(X).mean(dim=(2, 3)).view(B, K, d)  # product per position
        return A, model.attribute_fc(A)

    def fused_pool_first() -> tuple[torch.Tensor, list[torch.Tensor]]:
        A = model._attribute_embeddings(X).view(B, K, d)
        return A, model.attribute_fc(A)

    forwards = {
        "loop": lambda: loop(X),
        "fused conv": fused_conv,
        "fused, map (A3M)": fused_map,
        "fused, pool first (A3M)": fused_pool_first,
    }
    device = X.device

    def step(forward: Callable) -> Callable[[], tuple[torch.Tensor, list[torch.Tensor]]]:
        def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
            X.grad = None
            model.zero_grad(set_to_none=True)
            loop.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                A, logits = forward()
                loss = attribute_losses(logits, targets).mean() + 1e-3 * A.float().square().mean()
            loss.backward()
            return A, logits

        return run

    return {name: step(f) for name, f in forwards.items()}


def check_same(steps: dict[str, Callable], X: torch.Tensor, tol: float) -> float:
    """Largest difference of A, the logits and dL/dX of each candidate from the loop's."""
    results = {}
    for name, step in steps.items():
        A, logits = step()
        results[name] = (A.detach().float(), torch.cat(logits, 1).detach().float(), X.grad.clone())
    worst = 0.0
    for got in results.values():
        for a, b in zip(got, results["loop"], strict=True):
            scale = b.abs().max().clamp_min(1e-12)
            worst = max(worst, float((a - b).abs().max() / scale))
    if worst > tol:
        print(f"WARNING: candidates disagree: relative difference {worst:.2e} > {tol}")
    return worst


def run(args: argparse.Namespace, device: torch.device, amp: bool) -> None:
    K = args.num_attributes
    classes = (CUB_ATTRIBUTE_CLASSES * (K // 28 + 1))[:K]
    label = f"{device.type}{' bf16 autocast' if amp else ' float32'}"
    print(
        f"\n== {label}: K={K}, X=({args.batch_size}, {args.channels}, {args.side}, {args.side}), "
        f"d={args.d}, {args.repeats} interleaved rounds =="
    )
    torch.manual_seed(0)
    loop = LoopBranches(args.channels, args.d, classes)
    model = fused_model(args.channels, args.d, classes, loop)
    loop, model = loop.to(device), model.to(device)
    X = torch.relu(torch.randn(args.batch_size, args.channels, args.side, args.side)).to(device)
    X.requires_grad_(True)
    targets = torch.stack([torch.randint(0, c, (args.batch_size,)) for c in classes], 1)
    steps = candidates(model, loop, X, targets.to(device), amp)
    worst = check_same(steps, X, tol=3e-2 if amp else 1e-4)
    print(f"same results (A, logits, dL/dX): max relative difference {worst:.1e}")
    t = interleaved(steps, repeats=args.repeats, warmup=2, device=device)
    rows = [[name, t.median(name) * 1e3, t.spread(name), t.ratio("loop", name)] for name in steps]
    print_table(["candidate", "fwd+bwd ms (median)", "min-max (s)", "speed-up over loop"], rows)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-attributes", type=int, default=28, help="K")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=2048, help="C of the feature map")
    p.add_argument("--side", type=int, default=7, help="h = w of the feature map")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--smoke-test", action="store_true", help="tiny sizes, a second")
    return p


def main(args: argparse.Namespace) -> None:
    if args.smoke_test:
        args.batch_size, args.channels, args.side, args.d, args.repeats = 2, 16, 3, 8, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    run(args, torch.device("cpu"), amp=False)
    if not torch.cuda.is_available():
        print("\n== cuda: skipped: no CUDA ==")
        return
    run(args, torch.device("cuda"), amp=False)
    run(args, torch.device("cuda"), amp=True)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
