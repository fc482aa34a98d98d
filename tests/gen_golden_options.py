#!/usr/bin/env python3
"""Golden vectors for lsce's objective options (issue #3), from PyTorch.

Run with Debian's interpreter (the `python3` first on PATH is a separate build without torch):

    /usr/bin/python3 tests/gen_golden_options.py   # tests/golden_options/golden.bin, cases.txt

Deterministic (torch.manual_seed, one thread); re-running rewrites byte-identical files.

Every case holds fp32 logits x32, int64 targets and fp32 option arrays; every expected output is
computed in float64 by PyTorch from the exact upcast of those fp32 values, gradients by autograd
(reduction none: the gradient of (loss * grad_output).sum()). Nothing below is taken from lsce's
code; the formulas are written as the papers / projects define them:

  1. class weights (flag 2): F.cross_entropy(x, y, weight=w, label_smoothing=eps,
     ignore_index=ii, reduction=mean|sum|none) itself. PyTorch's weighted mean divides by
     sum over kept rows of w[y] (checked here against the explicit formula before use).
  2. explicit torch formulas on the transformed logits t, every other option:
       t = s * x                                       logit scale
       t = c * tanh((s * x) / c)                       Gemma 2 final-logit softcap (c = 30 there)
       CE_r = F.cross_entropy(t, y, weight=w, label_smoothing=eps, reduction='none')
              (uniform convention without prior: PyTorch itself on t)
       CE_r = F.cross_entropy(t, q, weight=w, reduction='none')  with q = (1-eps)*onehot + eps*u
              (a smoothing prior u: PyTorch's probability-target cross entropy, -sum w q log p)
       CE_r = -sum_c w_c q_c log_softmax(t)_c          (others / seed conventions)
       KL_r = sum_c w_c * F.kl_div(log_softmax(t), q, reduction='none')_c   (kl = 1)
       z-loss (PaLM, Liger-Kernel lse_square_scale):   + z * logsumexp(t)**2 per kept row
       confidence penalty (Pereyra et al. 2017):       + beta * sum_c p_c log p_c,  p = softmax(t)
       row weights rho_r:  row_r = rho_r * (CE_r + z lse^2 + beta sum p log p)
       reduction mean: sum_r row_r / D, D = sum over kept rows of rho_r * w[y_r]
  Flag 8: PyTorch's own value is NaN (0 * log 0 with a zero class weight or a zero prior entry
  at a -inf logit): the explicit formula takes 0 * log 0 = 0 (torch.where), as lsce.h documents.

Per row the file holds the loss (0 for ignored rows), the unweighted nll = logsumexp(t) - t_y
(0 for ignored rows), logsumexp(t) (every row), argmax of t (-1 where the fp32 t of the library
may tie or reorder the top two: the checker then accepts either). The generator also asserts that
lsce.h's closed forms (loss_r and dloss_r/dt_c in "Objective options") agree with PyTorch's
autograd on every case; a disagreement aborts generation (report it, do not bend the data).

Binary format (little-endian), documented in tests/golden_options/README.md:
  file:  char magic[8] = "LSCEGOPT"; int64 version = 1; int64 n_cases; then n_cases cases.
  case:  char name[48] (NUL padded);
         int64 rows, vocab, convention, kl, ignore_index, reduction, n_grad_output, flags,
               has_class_weight, has_prior, has_row_weight;
         double smoothing, z_loss, logit_scale, softcap, confidence_penalty;
         float32 logits[rows*vocab]; int64 targets[rows]; float32 grad_output[n_grad_output];
         float32 class_weight[vocab if has]; float32 prior[vocab if has];
         float32 row_weight[rows if has];
         double loss, z_sum, denominator;
         double row_loss[rows], row_nll[rows], row_lse[rows];
         int64 row_argmax[rows];
         double grad[rows*vocab].
  flags: 1 = every row ignored with mean (PyTorch NaN, lsce 0); 2 = F.cross_entropy itself
         (with weight=); 4 = mean with kept rows but D = 0 (PyTorch NaN, lsce 0);
         8 = explicit 0 * log 0 = 0 where PyTorch gives NaN; 16 = z-loss with class weights and
         mean: lsce.h's D-normalised z-loss (Liger-Kernel divides z*lse^2 by the kept-row count
         instead; see README).
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from golden_writer import (CONV_NAME, FLAG_ALL_IGNORED_MEAN, FLAG_TORCH_CROSS_ENTROPY, MEAN, NONE,
                           OTHERS, RED_NAME, SEED, SUM, UNIFORM, case_inputs, conv_weights,
                           generate, logits, targets)

FLAG_ZERO_DENOMINATOR = 4
FLAG_ZERO_LOG_ZERO = 8
FLAG_WEIGHTED_Z_MEAN = 16

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "golden_options")
U = 2.0 ** -24


def transform(x, s, c):
    """t from x (float64 autograd): logit scale s, then the Gemma 2 softcap c (0: off)."""
    t = x * s if s != 1.0 else x
    if c > 0:
        t = c * torch.tanh(t / c)
    return t


def t_perturbation(t64, s, c):
    """Bound on |fp32 t - exact t| per element (the checker uses the same model)."""
    t = np.abs(t64)
    if c > 0:
        return 4.0 * np.spacing(t.astype(np.float32)).astype(np.float64)  # 4 ulp of fp32 t
    if s != 1.0:
        return np.where(np.isfinite(t), 2.0 * U * t, 0.0)  # s -> fp32, then s * x rounded
    return np.zeros_like(t)


def argmax_or_ambiguous(t64, dt):
    """argmax of the exact t, or -1 when the fp32 t may tie or swap the top two."""
    out = []
    for row, d in zip(t64, dt):
        r = np.where(np.isnan(row), np.inf, row)
        i = int(np.argmax(r))
        if row.size > 1 and np.isfinite(r[i]):
            others = np.delete(r, i)
            j = int(np.argmax(others))
            j = j + (j >= i)
            if d[i] + d[j] > 0 and r[i] - r[j] <= d[i] + d[j]:
                i = -1
        out.append(i)
    return torch.tensor(out, dtype=torch.int64)


def compute(x32, y, o):
    """PyTorch float64 outputs for fp32 logits x32 (N x V), targets y (N) and options o."""
    N, V = x32.shape
    eps, conv, kl, ii, red = o["eps"], o["conv"], o["kl"], o["ii"], o["red"]
    s, c, z, beta = o["s"], o["c"], o["z"], o["beta"]
    w32, u32, rho32, go = o["w"], o["u"], o["rho"], o["go"]
    w = w32.double() if w32 is not None else torch.ones(V, dtype=torch.float64)
    rho = rho32.double() if rho32 is not None else torch.ones(N, dtype=torch.float64)
    keep = y != ii
    ysafe = torch.where(keep, y, torch.zeros_like(y))
    flags = 0

    x = x32.double().clone().requires_grad_(True)
    t = transform(x, s, c)
    t.retain_grad()
    logp = F.log_softmax(t, dim=-1)

    # The smoothed target distribution q (N x V) of the definitions above.
    if u32 is not None:
        assert conv == UNIFORM
        q = eps * u32.double().expand(N, V).clone()
        q[torch.arange(N), ysafe] += 1.0 - eps
    else:
        a, b = conv_weights(conv, eps, V)
        q = torch.full((N, V), b, dtype=torch.float64)
        q.scatter_(1, ysafe[:, None], a)
    omega = w * q

    # Cross-entropy (or KL) part per row.
    wt = w if w32 is not None else None
    if kl:
        # F.kl_div: target * (log target - input), 0 where the target is 0 (xlogy).
        ce = (w * F.kl_div(logp, q, reduction="none")).sum(-1)
    elif conv == UNIFORM and u32 is None:
        ce = F.cross_entropy(t, y, weight=wt, label_smoothing=eps, ignore_index=ii,
                             reduction="none")
        if c == 0 and s == 1.0 and z == 0 and beta == 0 and rho32 is None:
            flags |= FLAG_TORCH_CROSS_ENTROPY
    elif conv == UNIFORM:
        ce = torch.where(keep, F.cross_entropy(t, q, weight=wt, reduction="none"),
                         torch.zeros(N, dtype=torch.float64))
    else:
        ce = -(omega * logp).sum(-1)
    if bool(torch.isnan(ce.detach()[keep]).any()):
        # PyTorch's 0 * log 0 (a zero weight or prior entry at a -inf logit) is NaN; lsce.h
        # documents 0: the explicit formula with torch.where.
        assert bool(((omega == 0) & torch.isneginf(t.detach())).any()) and not kl
        flags = (flags & ~FLAG_TORCH_CROSS_ENTROPY) | FLAG_ZERO_LOG_ZERO
        ce = -torch.where(omega > 0, omega * logp, torch.zeros_like(logp)).sum(-1)
    lse = torch.logsumexp(t, dim=-1)
    rows = ce
    if z:
        rows = rows + z * lse ** 2
    if beta:
        p = torch.softmax(t, dim=-1)
        rows = rows + beta * (p * logp).sum(-1)
    rows = rho * rows
    rows = torch.where(keep, rows, torch.zeros_like(rows))
    D = (rho * w[ysafe])[keep].sum()
    if red == MEAN:
        out = rows.sum() / D  # NaN (0/0) or inf when nothing counts, like PyTorch
        if int(keep.sum()) == 0:
            flags |= FLAG_ALL_IGNORED_MEAN
        elif float(D) == 0.0:
            flags |= FLAG_ZERO_DENOMINATOR
        if z and w32 is not None:
            flags |= FLAG_WEIGHTED_Z_MEAN
    elif red == SUM:
        out = rows.sum()
    else:
        out = rows
    if red == NONE:
        gvec = torch.ones(N, dtype=torch.float64) if go is None else go.double()
        target = (out * gvec).sum()
        loss = out.detach().sum().item()
    else:
        gs = 1.0 if go is None else float(go[0])
        gvec = torch.full((N,), gs, dtype=torch.float64)
        if red == MEAN:
            gvec = gvec / D.detach()
        target = out * gs
        loss = out.detach().item()
    target.backward()
    grad = x.grad.detach()
    grad_t = t.grad.detach() if t.grad is not None else torch.zeros(N, V, dtype=torch.float64)

    # PyTorch's own cross entropy with weight= must equal the weighted mean definition.
    if flags & FLAG_TORCH_CROSS_ENTROPY and red == MEAN and D > 0:
        ref = F.cross_entropy(x32.double(), y, weight=w, label_smoothing=eps, ignore_index=ii,
                              reduction="mean").item()
        assert abs(ref - loss) <= 1e-12 * max(1.0, abs(loss)), (ref, loss)

    t64 = t.detach()
    lse = lse.detach()
    nll = lse - t64.gather(1, ysafe[:, None])[:, 0]
    nll = torch.where(keep, nll, torch.zeros_like(nll))
    z_sum = float((rho * z * lse ** 2)[keep].sum()) if z else 0.0
    dt = t_perturbation(t64.numpy(), s, c)
    argmax = argmax_or_ambiguous(t64.numpy(), dt)

    check_closed_forms(t64, lse, keep, ysafe, omega, q, rho, gvec, z, beta, kl, rows.detach(),
                       grad_t, flags)
    return dict(loss=loss, row_loss=rows.detach(), nll=nll, lse=lse, argmax=argmax, grad=grad,
                z_sum=z_sum, D=float(D), flags=flags)


def check_closed_forms(t, lse, keep, ysafe, omega, q, rho, gvec, z, beta, kl, rows, grad_t,
                       flags):
    """lsce.h's loss_r and dloss_r/dt_c against PyTorch (abort on a disagreement)."""
    if flags & (FLAG_ALL_IGNORED_MEAN | FLAG_ZERO_DENOMINATOR):
        return
    p = torch.softmax(t, dim=-1)
    logp = t - lse[:, None]
    plogp = torch.where(p > 0, p * logp, torch.zeros_like(p))
    H = -plogp.sum(-1)
    Om = omega.sum(-1)
    wlse = torch.where(omega > 0, omega * (lse[:, None] - t), torch.zeros_like(t)).sum(-1)
    loss = wlse + z * lse ** 2 - beta * H
    if kl:
        loss = loss + torch.where(omega > 0, omega * torch.log(q), torch.zeros_like(q)).sum(-1)
    loss = rho * loss
    g = (Om[:, None] * p - omega + 2 * z * lse[:, None] * p
         + beta * torch.where(p > 0, p * (logp + H[:, None]), torch.zeros_like(p)))
    g = (rho * gvec)[:, None] * g
    for r in range(t.shape[0]):
        if not bool(keep[r]):
            continue
        if math.isfinite(float(rows[r])):
            assert abs(float(loss[r]) - float(rows[r])) <= 1e-12 * (1 + abs(float(rows[r]))), \
                ("lsce.h loss_r disagrees with PyTorch", r, float(loss[r]), float(rows[r]))
        gt = grad_t[r]
        fin = torch.isfinite(t[r])
        err = (g[r] - gt)[fin].abs().max().item()
        scale = 1e-12 * (1 + gt[fin].abs().max().item())
        assert err <= scale, ("lsce.h dloss/dt disagrees with autograd", r, err)


CASES = []


def f32(v):
    return None if v is None else torch.as_tensor(v, dtype=torch.float32).reshape(-1).clone()


def case(name, x32, y, eps=0.0, conv=UNIFORM, kl=0, ii=-100, red=MEAN, go=None, w=None, u=None,
         rho=None, z=0.0, s=1.0, c=0.0, beta=0.0):
    x32, y, go = case_inputs(name, x32, y, ii, red, go)
    N, V = x32.shape
    w, u, rho = f32(w), f32(u), f32(rho)
    assert w is None or w.numel() == V
    assert rho is None or rho.numel() == N
    if u is not None:
        assert u.numel() == V and conv == UNIFORM and abs(float(u.double().sum()) - 1) < 1e-5
    o = dict(eps=eps, conv=conv, kl=kl, ii=ii, red=red, go=go, w=w, u=u, rho=rho, z=z, s=s, c=c,
             beta=beta)
    r = compute(x32, y, o)
    assert len(name) < 48, name
    assert name not in [k["name"] for k in CASES], name
    CASES.append(dict(name=name, x=x32, y=y, **o, **r))


def zeroed(t, zero):
    """t with the listed entries (those below its length) set to exactly 0."""
    for k in zero:
        if k < t.numel():
            t[k] = 0.0
    return t


def class_weights(V, zero=(1,)):
    """Positive fp32 weights in [0.25, 2.25) with the listed classes at exactly 0."""
    return zeroed(torch.rand(V) * 2.0 + 0.25, zero)


def prior(V, zero=(2,)):
    """A smoothing prior in fp32: Dirichlet-like, some entries exactly 0, sum 1 within 1e-6."""
    u = zeroed(torch.rand(V) ** 2 + 0.01, zero)
    return (u.double() / u.double().sum()).float()


def row_weights(N, zero=(1,)):
    return zeroed(torch.rand(N) * 1.5 + 0.25, zero)


def build():
    torch.manual_seed(20261103)
    reds = [MEAN, SUM, NONE]

    # ---- 1. F.cross_entropy(weight=...) itself: class weights x smoothing x ignore_index x
    #         every reduction, V in {1, 5, 17, 100, 1000, 4097}.
    # V = 1: the loss is 0 whatever the weight; w = 0 gives D = 0 with mean.
    for red in reds:
        case(f"w_V1_e0.1_{RED_NAME[red]}", logits(4, 1, 2.0), [0, -100, 0, 0], eps=0.1, red=red,
             w=[0.7])
    case("w0_V1_mean_D0", logits(3, 1, 2.0), [0, 0, -100], eps=0.1, red=MEAN, w=[0.0])
    # V = 5: every eps x every reduction; class 1 has weight 0 (and is some rows' target).
    k = 0
    for eps in (0.0, 0.1, 0.3, 1.0):
        for red in reds:
            ii = -100 if k % 2 == 0 else 0
            y = targets(10, 5, ii)
            y[3] = 1  # a kept row whose target weighs 0
            case(f"w_V5_e{eps}_{RED_NAME[red]}_ii{ii}", logits(10, 5, [0.5, 2.0, 6.0][k % 3]), y,
                 eps=eps, ii=ii, red=red, w=class_weights(5))
            k += 1
    # V = 17, 100: every reduction.
    for V, N, eps in ((17, 8, 0.1), (100, 3, 0.3)):
        for j, red in enumerate(reds):
            ii = -100 if j != 1 else 0
            case(f"w_V{V}_e{eps}_{RED_NAME[red]}_ii{ii}", logits(N, V, 2.0), targets(N, V, ii),
                 eps=eps, ii=ii, red=red, w=class_weights(V, zero=(1, 7)))
    case("w_V17_e0_mean", logits(8, 17, 3.0), targets(8, 17, -100), eps=0.0, red=MEAN,
         w=class_weights(17, zero=(0, 5)))
    # Large V (a row of gradients is V doubles: few rows).
    case("w_V1000_e0.2_mean", logits(1, 1000, 3.0), [999], eps=0.2, red=MEAN,
         w=class_weights(1000, zero=(1, 500)))
    case("w_V4097_e0.1_sum_go", logits(1, 4097, 2.0), [4096], eps=0.1, red=SUM, go=[-0.75],
         w=class_weights(4097, zero=(1, 4095)))
    # grad_output: a vector (none) and a scalar (mean).
    case("w_V5_e0.1_none_go_vector", logits(6, 5, 2.0), [0, 1, -100, 4, 2, 3], eps=0.1,
         red=NONE, go=torch.randn(6), w=class_weights(5))
    case("w_V17_e0.3_mean_go_ii0", logits(6, 17, 2.0), [0, 3, 16, 0, 1, 8], eps=0.3, ii=0,
         red=MEAN, go=[1.5], w=class_weights(17))
    # Nothing counts: every row ignored (mean: PyTorch NaN, lsce 0; sum: 0 both), and kept rows
    # whose targets all weigh 0 (mean: D = 0).
    case("w_all_ignored_mean_V5", logits(4, 5, 2.0), [-100] * 4, eps=0.1, red=MEAN,
         w=class_weights(5))
    case("w_all_ignored_mean_ii0_V5", logits(3, 5, 2.0), [0, 0, 0], eps=0.0, ii=0, red=MEAN,
         w=class_weights(5))
    case("w_all_ignored_sum_V5", logits(3, 5, 2.0), [-100] * 3, eps=0.3, red=SUM,
         w=class_weights(5))
    case("w_D0_mean_V5", logits(4, 5, 2.0), [1, 1, -100, 1], eps=0.1, red=MEAN,
         w=class_weights(5))
    # A zero weight at a -inf logit (0 * log 0 = 0; PyTorch NaN) and a -inf at a weighted class
    # with eps = 0 (only the target counts: finite).
    xm = logits(4, 7, 2.0)
    xm[0, 1] = xm[2, 1] = xm[3, 1] = float("-inf")
    xm[1, 4] = float("-inf")
    wm = class_weights(7, zero=(1,))
    case("w0_neginf_V7_e0.1_mean", xm, [0, 2, 6, -100], eps=0.1, red=MEAN, w=wm)
    case("w0_neginf_V7_e0.1_none", xm, [0, 2, 6, 3], eps=0.1, red=NONE, w=wm, go=torch.randn(4))
    case("w_neginf_V7_e0_sum", xm, [0, 2, 6, 3], eps=0.0, red=SUM, w=wm)

    # ---- 2. The other options, explicit torch formulas.
    # Softcap (Gemma 2: c = 30), partly saturated rows.
    case("softcap30_V33_e0.1_mean", logits(6, 33, 15.0), targets(6, 33, -100), eps=0.1, c=30.0)
    case("softcap5_V17_e0_sum_ii0", logits(6, 17, 8.0), targets(6, 17, 0), ii=0, red=SUM, c=5.0)
    case("softcap10_s0.5_V17_e0.3_none_go", logits(5, 17, 10.0), targets(5, 17, -100), eps=0.3,
         red=NONE, go=torch.randn(5), c=10.0, s=0.5)
    xs = logits(4, 7, 4.0)
    xs[0, 3] = float("-inf")
    xs[1, 0] = xs[1, 6] = float("-inf")
    xs[2, 5] = float("inf")
    xs[3, 2] = 1e30  # saturated: t = c in fp32 and in double
    xs[0, 4], xs[0, 6] = 40.0, 45.0  # both t = c in fp32 (a tie), distinct in double: argmax -1
    # Targets at a -inf logit (t = -c: an ordinary class), at +inf, at the tie.
    case("softcap3_infs_V7_e0.1_mean", xs, [6, 0, 5, 2], eps=0.1, c=3.0)
    # Logit scale.
    case("scale0.75_V33_e0.1_mean", logits(6, 33, 3.0), targets(6, 33, -100), eps=0.1, s=0.75)
    case("scale_rsqrt2_V17_e0.1_sum", logits(6, 17, 3.0), targets(6, 17, -100), eps=0.1,
         red=SUM, s=1.0 / math.sqrt(2.0))
    case("scale4_V17_e0_none_ii0", logits(5, 17, 1.0), targets(5, 17, 0), ii=0, red=NONE, s=4.0)
    # z-loss: PaLM's 1e-4, and larger coefficients with offset logits (|lse| ~ 20).
    case("z1e-4_V100_e0.1_mean", logits(3, 100, 2.0), targets(3, 100, -100), eps=0.1, z=1e-4)
    case("z0.05_offset_V17_e0_sum", logits(6, 17, 2.0) + 18.0, targets(6, 17, -100), red=SUM,
         z=0.05)
    case("z0.5_V17_e0.3_none_ii0", logits(6, 17, 2.0) - 5.0, targets(6, 17, 0), eps=0.3, ii=0,
         red=NONE, z=0.5, go=torch.randn(6))
    # Confidence penalty.
    case("beta0.1_V33_e0_mean", logits(6, 33, 3.0), targets(6, 33, -100), beta=0.1)
    case("beta1_V17_e0.1_none", logits(6, 17, 2.0), targets(6, 17, -100), eps=0.1, red=NONE,
         beta=1.0)
    case("beta0.5_V5_e0_sum_ii0", logits(8, 5, 4.0), targets(8, 5, 0), ii=0, red=SUM, beta=0.5)
    # Smoothing prior.
    case("prior_V17_e0.3_mean", logits(6, 17, 2.0), targets(6, 17, -100), eps=0.3, u=prior(17))
    case("prior_w_V33_e0.5_sum", logits(5, 33, 2.0), targets(5, 33, -100), eps=0.5, red=SUM,
         u=prior(33, zero=(2, 9)), w=class_weights(33))
    case("prior_w_V17_e0.2_mean_ii0", logits(6, 17, 2.0), [0, 3, 2, 16, 9, 0], eps=0.2, ii=0,
         u=prior(17), w=class_weights(17, zero=(3,)))
    case("prior_V17_e1_none_ii0", logits(5, 17, 2.0), targets(5, 17, 0), eps=1.0, ii=0,
         red=NONE, u=prior(17))
    case("prior_kl_V17_e0.3_mean", logits(6, 17, 2.0), targets(6, 17, -100), eps=0.3, kl=1,
         u=prior(17, zero=(2, 3)))
    xp = logits(3, 7, 2.0)
    xp[0, 2] = xp[1, 2] = float("-inf")
    case("prior0_neginf_V7_e0.3_sum", xp, [0, 4, 6], eps=0.3, red=SUM, u=prior(7, zero=(2,)))
    # Row weights (one exactly 0).
    for j, red in enumerate(reds):
        ii = -100 if j != 1 else 0
        case(f"rho_V17_e0.1_{RED_NAME[red]}_ii{ii}", logits(6, 17, 2.0), targets(6, 17, ii),
             eps=0.1, ii=ii, red=red, rho=row_weights(6))
    case("rho_w_V33_e0.1_mean", logits(6, 33, 2.0), targets(6, 33, -100), eps=0.1,
         w=class_weights(33), rho=row_weights(6, zero=(2,)))
    case("rho0_D0_mean_V5", logits(3, 5, 2.0), [1, 2, -100], eps=0.1, rho=[0.0, 0.0, 1.0])
    # Class-weighted KL and the other conventions.
    case("w_kl_V17_e0.1_mean", logits(6, 17, 2.0), targets(6, 17, -100), eps=0.1, kl=1,
         w=class_weights(17))
    case("others_w_z_beta_V17_e0.1_sum", logits(6, 17, 2.0), targets(6, 17, -100), eps=0.1,
         conv=OTHERS, red=SUM, w=class_weights(17), z=0.01, beta=0.2)
    case("seed_kl_w_rho_V17_e0.2_mean", logits(6, 17, 2.0), targets(6, 17, 0), eps=0.2,
         conv=SEED, kl=1, ii=0, w=class_weights(17), rho=row_weights(6))

    # ---- 3. Everything at once: w, u, rho, z, s, c, beta, eps, ignore_index.
    def everything(name, N, V, scale, red, ii=-100, kl=0, go=None, y=None, rho=None, eps=0.2):
        case(name, logits(N, V, scale), targets(N, V, ii) if y is None else y, eps=eps, kl=kl,
             ii=ii, red=red, go=go, w=class_weights(V, zero=(1,)), u=prior(V, zero=(2,)),
             rho=row_weights(N) if rho is None else rho, z=1e-3, s=0.8, c=20.0, beta=0.1)

    everything("all_V33_mean", 8, 33, 8.0, MEAN)
    everything("all_V100_sum_ii0", 3, 100, 8.0, SUM, ii=0)
    everything("all_V17_none_go", 6, 17, 8.0, NONE, go=torch.randn(6))
    everything("all_kl_V33_mean_ii0", 6, 33, 8.0, MEAN, ii=0, kl=1)
    everything("all_ignored_mean_V17", 3, 17, 8.0, MEAN, y=[-100] * 3)
    everything("all_D0_mean_V17", 3, 17, 8.0, MEAN, y=[4, -100, 1], rho=[0.0, 1.0, 2.0])


def write_case(w, c):
    has = [c[k] is not None for k in ("w", "u", "rho")]
    N, V, ngo = w.head(c, *[int(h) for h in has])
    w.f64(c["eps"], c["z"], c["s"], c["c"], c["beta"])
    w.inputs(c)
    for arr in (c["w"], c["u"], c["rho"]):
        if arr is not None:
            w.array(arr, "<f4")
    w.f64(c["loss"], c["z_sum"], c["D"])
    w.outputs(c)
    yn = ["w" if has[0] else "-", "u" if has[1] else "-", "rho" if has[2] else "-"]
    return (f"{c['name']} {N} {V} {CONV_NAME[c['conv']]} {c['kl']} {c['ii']} "
            f"{RED_NAME[c['red']]} {c['eps']} {c['z']} {c['s']!r} {c['c']} {c['beta']} "
            f"{' '.join(yn)} {ngo} {c['flags']} {c['loss']!r}")


def main():
    generate(OUT_DIR, build, CASES, b"LSCEGOPT", 1,
             ["# lsce objective-option golden cases (generated by tests/gen_golden_options.py; "
              "do not edit)",
              "# name rows vocab convention kl ignore_index reduction smoothing z_loss "
              "logit_scale softcap confidence_penalty class_weight prior row_weight "
              "n_grad_output flags loss"],
             write_case)


if __name__ == "__main__":
    main()
