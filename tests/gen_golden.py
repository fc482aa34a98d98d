#!/usr/bin/env python3
"""Golden vectors for lsce from PyTorch (an oracle nobody on the project wrote).

Run with Debian's interpreter (the `python3` first on PATH is a separate build without torch):

    /usr/bin/python3 tests/gen_golden.py            # writes tests/golden/golden.bin + cases.txt

Deterministic (torch.manual_seed); re-running rewrites byte-identical files.

Every case holds fp32 logits and int64 targets; PyTorch's outputs are computed in float64 from
the same fp32 logits upcast (so they are exact to ~1e-16 for the input lsce actually sees):
  - uniform convention, kl = 0: F.cross_entropy(x, y, label_smoothing=eps, ignore_index, reduction)
    itself, and its autograd gradient (reduction none: the gradient of (loss * grad_output).sum());
  - the other conventions and kl = 1: written out explicitly in torch, q_y = a, q_c = b,
      loss_r = -(q * log_softmax(x)).sum(-1)                         (kl = 0)
      loss_r = F.kl_div(log_softmax(x), q, reduction='none').sum(-1)  (kl = 1)
    with ignored rows masked out, then mean / sum / none, gradient by autograd;
  - per row: the unsmoothed nll -log p_y (0 for ignored rows), torch.logsumexp and torch.argmax.

Binary format (little-endian; tests/golden.c reads it, tests/golden/README.md documents it):
  file:  char magic[8] = "LSCEGOLD"; int64 version = 1; int64 n_cases; then n_cases cases.
  case:  char name[48] (NUL padded);
         int64 rows, vocab, convention, kl, ignore_index, reduction, n_grad_output, flags;
         double smoothing;
         float32 logits[rows*vocab]; int64 targets[rows]; float32 grad_output[n_grad_output];
         double loss;                        (reduced loss; reduction none: sum of row losses)
         double row_loss[rows], row_nll[rows], row_lse[rows];
         int64 row_argmax[rows];
         double grad[rows*vocab].
  flags: 1 = every row ignored with reduction mean: PyTorch's loss is NaN, lsce documents 0;
         2 = loss computed by F.cross_entropy itself (otherwise explicit torch code).
"""
import os

import torch
import torch.nn.functional as F

from golden_writer import (CONV_NAME, FLAG_ALL_IGNORED_MEAN, FLAG_TORCH_CROSS_ENTROPY, MEAN, NONE,
                           OTHERS, RED_NAME, SEED, SUM, UNIFORM, case_inputs, conv_weights,
                           generate, logits, targets)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "golden")


def compute(x32, y, eps, conv, kl, ii, red, go):
    """PyTorch float64 outputs for fp32 logits x32 (N x V) and targets y (N)."""
    N, V = x32.shape
    x = x32.double().clone().requires_grad_(True)
    keep = y != ii
    ysafe = torch.where(keep, y, torch.zeros_like(y))
    flags = 0
    if conv == UNIFORM and not kl:
        # PyTorch itself.
        flags |= FLAG_TORCH_CROSS_ENTROPY
        out = F.cross_entropy(x, y, label_smoothing=eps, ignore_index=ii, reduction=RED_NAME[red])
        row_loss = F.cross_entropy(x.detach(), y, label_smoothing=eps, ignore_index=ii,
                                   reduction="none")
    else:
        a, b = conv_weights(conv, eps, V)
        q = torch.full((N, V), b, dtype=torch.float64)
        q.scatter_(1, ysafe[:, None], a)
        logp = F.log_softmax(x, dim=-1)
        if kl:
            rows = F.kl_div(logp, q, reduction="none").sum(-1)
        else:
            # 0 * log 0 = 0 (a -inf masked logit with q_c = 0 contributes nothing).
            rows = -torch.where(q > 0, q * logp, torch.zeros_like(logp)).sum(-1)
        rows = torch.where(keep, rows, torch.zeros_like(rows))
        if red == MEAN:
            out = rows.sum() / keep.sum()  # 0/0 = NaN when every row is ignored, like PyTorch
        elif red == SUM:
            out = rows.sum()
        else:
            out = rows
        row_loss = rows.detach()
    if red == NONE:
        g = torch.ones(N, dtype=torch.float64) if go is None else go.double()
        target = (out * g).sum()
        loss = out.detach().sum().item()
    else:
        g = 1.0 if go is None else float(go[0])
        target = out * g
        loss = out.detach().item()
    (grad,) = torch.autograd.grad(target, x)
    xd = x32.double()
    lse = torch.logsumexp(xd, dim=-1)
    nll = lse - xd.gather(1, ysafe[:, None])[:, 0]
    nll = torch.where(keep, nll, torch.zeros_like(nll))
    argmax = torch.argmax(x32, dim=-1)
    if red == MEAN and int(keep.sum()) == 0:
        flags |= FLAG_ALL_IGNORED_MEAN
    return dict(loss=loss, row_loss=row_loss, nll=nll, lse=lse, argmax=argmax, grad=grad,
                flags=flags)


CASES = []


def case(name, x32, y, eps=0.0, conv=UNIFORM, kl=0, ii=-100, red=MEAN, go=None):
    x32, y, go = case_inputs(name, x32, y, ii, red, go)
    r = compute(x32, y, eps, conv, kl, ii, red, go)
    assert len(name) < 48
    CASES.append(dict(name=name, x=x32, y=y, eps=eps, conv=conv, kl=kl, ii=ii, red=red, go=go,
                      **r))


def build():
    torch.manual_seed(20261101)
    epss = [0.0, 0.1, 0.3, 1.0]
    reds = [MEAN, SUM, NONE]
    scales = [0.5, 2.0, 8.0]

    # 1. PyTorch F.cross_entropy (uniform convention): V in {1, 2, 7} x every eps x every
    #    reduction; ignore_index alternates -100 / 0 (V = 1 keeps -100: 0 would ignore all rows).
    k = 0
    for V, N in [(1, 6), (2, 12), (7, 16)]:
        for eps in epss:
            for red in reds:
                ii = -100 if (V == 1 or k % 2 == 0) else 0
                s = scales[k % 3]
                case(f"ce_V{V}_e{eps}_{RED_NAME[red]}_ii{ii}", logits(N, V, s), targets(N, V, ii),
                     eps=eps, ii=ii, red=red)
                k += 1
    # V in {33, 100}: every eps, reductions rotating (each V still sees all three).
    for V, N in [(33, 8), (100, 4)]:
        for j, eps in enumerate(epss):
            red = reds[j % 3]
            ii = -100 if j % 2 == 0 else 0
            case(f"ce_V{V}_e{eps}_{RED_NAME[red]}_ii{ii}", logits(N, V, scales[j % 3]),
                 targets(N, V, ii), eps=eps, ii=ii, red=red)
    # V = 1000 (two rows each: the gradients are stored in double).
    case("ce_V1000_e0.1_mean", logits(2, 1000, 3.0), [17, 999], eps=0.1, red=MEAN)
    case("ce_V1000_e0.3_none_go_ii0", logits(2, 1000, 1.0), [0, 421], eps=0.3, ii=0, red=NONE,
         go=[0.0, -1.75])

    # 2. grad_output: a random per-row vector (none) and a scalar (mean, sum).
    case("ce_V7_e0.1_none_go_vector", logits(10, 7, 2.0), targets(10, 7, -100), eps=0.1,
         red=NONE, go=torch.randn(10))
    case("ce_V33_e0.3_mean_go_scalar", logits(6, 33, 2.0), targets(6, 33, -100), eps=0.3,
         red=MEAN, go=[0.37])
    case("ce_V7_e0.1_sum_go_scalar_ii0", logits(8, 7, 2.0), targets(8, 7, 0), eps=0.1, ii=0,
         red=SUM, go=[-2.5])

    # 3. The other conventions (explicit torch), kl 0 and 1, every reduction.
    k = 0
    for conv in (OTHERS, SEED):
        for kl in (0, 1):
            for V, N, eps in [(2, 8, 0.3), (7, 8, 0.1), (33, 6, 1.0)]:
                red = reds[k % 3]
                ii = -100 if k % 2 == 0 else 0
                case(f"{CONV_NAME[conv]}_kl{kl}_V{V}_e{eps}_{RED_NAME[red]}_ii{ii}",
                     logits(N, V, scales[k % 3]), targets(N, V, ii), eps=eps, conv=conv, kl=kl,
                     ii=ii, red=red)
                k += 1
    case("others_V1_e0.3_sum", logits(4, 1, 1.0), [0, 0, -100, 0], eps=0.3, conv=OTHERS, red=SUM)
    case("others_kl1_V1_e0.3_none", logits(4, 1, 1.0), [0, -100, 0, 0], eps=0.3, conv=OTHERS,
         kl=1, red=NONE)
    case("others_V100_e0.1_none_go", logits(3, 100, 2.0), [5, -100, 99], eps=0.1, conv=OTHERS,
         red=NONE, go=[0.5, 3.0, -1.0])
    # The seed chapter's LabelSmoothingLoss: F.kl_div(log_softmax, q (q_y = 1 - eps,
    # q_c = eps / V), reduction='none').sum(-1) over the non-pad rows (pad = 0), mean.
    case("seed_chapter_klloss_pad0_V33_e0.1", logits(8, 33, 2.0), targets(8, 33, 0, 0.3),
         eps=0.1, conv=SEED, kl=1, ii=0, red=MEAN)
    # Uniform KL (F.kl_div with PyTorch's q).
    for V, N, eps, red in [(7, 8, 0.1, MEAN), (33, 4, 0.3, NONE), (2, 6, 1.0, SUM)]:
        case(f"uniform_kl1_V{V}_e{eps}_{RED_NAME[red]}", logits(N, V, 2.0), targets(N, V, -100),
             eps=eps, kl=1, red=red)

    # 4. Special values.
    # Logits offset by 1e4 (fp32 spacing there is ~1e-3; nothing may cancel).
    case("offset_1e4_V33_e0.1_mean", logits(4, 33, 3.0) + 1e4, targets(4, 33, -100), eps=0.1)
    case("offset_1e4_V100_e0.3_none_ii0", logits(3, 100, 3.0) + 1e4, [0, 50, 99], eps=0.3, ii=0,
         red=NONE)
    # Wide spread: exp arguments down to ~ -400 (many exp results flush to 0).
    case("spread_scale50_V100_e0.1_sum", logits(2, 100, 50.0), [3, 77], eps=0.1, red=SUM)
    # -inf masked vocabulary entries: eps > 0 gives +inf loss (PyTorch too) with a finite
    # gradient, -q_c * scale on the masked entries; eps = 0 stays finite.
    xm = logits(6, 7, 2.0)
    xm[0, 1] = xm[0, 5] = float("-inf")
    xm[2, 0] = float("-inf")
    xm[3, 2:] = float("-inf")
    ym = [0, 4, 3, 1, -100, 6]
    case("neginf_mask_V7_e0.1_mean", xm, ym, eps=0.1, red=MEAN)
    case("neginf_mask_V7_e0.1_none_go", xm, ym, eps=0.1, red=NONE, go=torch.randn(6))
    case("neginf_mask_V7_e0_sum", xm, ym, eps=0.0, red=SUM)
    case("neginf_mask_others_kl1_V7_e0.3_none", xm, ym, eps=0.3, conv=OTHERS, kl=1, red=NONE)
    # Every row ignored with mean: PyTorch gives NaN, lsce deliberately 0 and a zero gradient.
    case("all_ignored_mean_V7_e0.1", logits(4, 7, 2.0), [-100] * 4, eps=0.1, red=MEAN)
    case("all_ignored_mean_ii0_V7_e0", logits(3, 7, 2.0), [0, 0, 0], eps=0.0, ii=0, red=MEAN)
    case("all_ignored_sum_V7_e0.3", logits(3, 7, 2.0), [-100] * 3, eps=0.3, red=SUM)
    # Confidently right rows with eps = 0 (loss ~1e-5 .. 1e-9, the gradient row tiny): the loss
    # and gradient bounds of lsce.h are relative to these small values.
    xc = logits(3, 100, 1.0)
    yc = [7, 42, 99]
    for r, margin in enumerate((12.0, 18.0, 25.0)):
        xc[r, yc[r]] = xc[r].max() + margin
    case("confident_V100_e0_sum", xc, yc, eps=0.0, red=SUM)
    # A NaN logit: its row's loss and gradient are NaN (PyTorch too), the other rows are not.
    xn = logits(3, 7, 2.0)
    xn[1, 4] = float("nan")
    case("nan_row_V7_e0.1_none", xn, [2, 0, 6], eps=0.1, red=NONE)


def write_fields(w, c):
    """A version-1 case (tests/gen_golden_half.py's version 2 appends its fields to it)."""
    N, V, ngo = w.head(c)
    w.f64(c["eps"])
    w.inputs(c)
    w.f64(c["loss"])
    w.outputs(c)
    return N, V, ngo


def write_case(w, c):
    N, V, ngo = write_fields(w, c)
    return (f"{c['name']} {N} {V} {CONV_NAME[c['conv']]} {c['kl']} {c['ii']} "
            f"{RED_NAME[c['red']]} {c['eps']} {ngo} {c['flags']} {c['loss']!r}")


def main():
    generate(OUT_DIR, build, CASES, b"LSCEGOLD", 1,
             ["# lsce golden cases (generated by tests/gen_golden.py; do not edit)",
              "# name rows vocab convention kl ignore_index reduction smoothing n_grad_output "
              "flags loss"],
             write_case)


if __name__ == "__main__":
    main()
