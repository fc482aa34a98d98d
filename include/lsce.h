/*
 * lsce — fused label-smoothed cross-entropy: loss, statistics and gradient in one pass.
 *
 * The only public header. C11, usable from C++.
 *
 * Mathematics (every smoothing convention is one pair of weights):
 *   row of logits x (V entries), target y, lse = log Σ_c exp x_c, p = softmax(x),
 *   smoothed target q_y = a, q_c = b (c ≠ y), A = Σ_c q_c = a + b(V−1):
 *     loss_r      = A·lse − (a − b)·x_y − b·Σ_c x_c            ( = −Σ_c q_c log p_c )
 *     ∂loss_r/∂x_c = A·p_c − b − (a − b)·[c = y]
 *
 *   convention   a = q_y          b = q_c (c ≠ y)   users
 *   uniform      1 − ε + ε/V      ε/V               PyTorch cross_entropy(label_smoothing=ε), Liger
 *   others       1 − ε            ε/(V−1)           fairseq, Megatron-LM (b = 0 when V = 1)
 *   seed         1 − ε            ε/V               the seed chapter's KL LabelSmoothingLoss
 *
 * Objective options (all in one kernel, any combination; every default leaves the terms out):
 *   t_c = s·x_c (logit_scale s > 0), or t_c = c·tanh(s·x_c / c) with softcap c > 0 (Gemma 2),
 *   computed in fp32; p = softmax(t), lse = log Σ exp t_c. Argmax, nll, lse, row_lse and
 *   calibration are all of t. The gradient is carried to x by the chain rule
 *   ∂t_c/∂x_c = s·(1 − tanh²(s·x_c/c)), evaluated as s·v·(2 − v) from v = 1 − |tanh| (exact where
 *   tanh saturates, unlike 1 − (t/c)² from a rounded t, which PyTorch's tanh backward uses).
 *   Class weights w_c ≥ 0 (PyTorch weight=) and the smoothing prior u (q = (1−ε)·δ_y + ε·u, only
 *   with convention uniform, which it generalises: u = 1/V is uniform) give every class the
 *   weight ω_c = w_c·q_c; with row weight ρ_r ≥ 0, z-loss z ≥ 0 and confidence penalty β ≥ 0,
 *   the loss of a kept row r is
 *     loss_r = ρ_r·[ Σ_c ω_c·(lse − t_c) + z·lse² + β·Σ_c p_c log p_c (+ Σ_c ω_c log q_c if kl) ]
 *     ∂loss_r/∂t_c = ρ_r·[ (Σ ω)·p_c − ω_c + 2z·lse·p_c + β·p_c·(log p_c + H) ],  H = −Σ p log p
 *   mean divides Σ_r loss_r by D = Σ over kept rows of ρ_r·w_{y_r} (PyTorch's weighted mean; the
 *   number of kept rows without weights). A class with ω_c = 0 contributes nothing, even where
 *   t_c = −inf (0·log 0 = 0; PyTorch gives NaN there). nll stays the unweighted Σ −log p_y.
 *   Calibration (B bins): every kept row with a finite confidence p_max = exp(t_max − lse) adds
 *   1, p_max and [argmax = y] to bin min(floor(p_max·B), B − 1) of opts->calibration
 *   (accumulated across calls; lsce_forward_backward and lsce_forward only).
 *   Softcap maps ±inf logits to ±c: a −inf-masked logit is then an ordinary class (as PyTorch).
 *
 * Non-finite logits: a NaN or +inf logit makes its row's loss, lse and gradient NaN (as PyTorch);
 * −inf logits are legal (masked classes: p = 0). Every NaN the library reports (row_loss, row_lse,
 * loss, nll_sum, z_sum) is the positive quiet NaN: an IEEE NaN's sign and payload follow the
 * order of operations, which differs between variants and entry points.
 *
 * Conventions that differ from PyTorch (deliberately):
 *   - reduction mean with no kept row (or D = 0) gives loss 0 and a zero gradient (PyTorch: NaN).
 *   - a class of weight 0 whose logit is −inf adds 0, not NaN, to a smoothed loss (above).
 *
 * Accuracy (fp32, every variant; u = 2^−24; the derivation is in tests/test_kernels.c):
 *   - exp: the SIMD exp of arguments x − max ∈ [−inf, 0] has relative error < 2.02 ulp
 *     (1.65e-7; measured over every float in [−104, 0]) where the result is normal; results below
 *     2^−126 may flush to 0 (absolute error < 1.2e-38). The scalar reference uses libm expf.
 *   - row sums (Σ exp, Σ (x − max)): every term of each has one sign; at most 20 fp32 roundings
 *     per chain before the sums are folded into double: relative error ≤ 1.2e-6.
 *   - loss of a row (A = Σ_c q_c): |error| ≤ 2.6e-6·A + 1.3e-6·|loss| — an absolute term because
 *     a confident row's loss log d ≈ d − 1 is far smaller than d (PyTorch's fp32 path has the
 *     same property); nll likewise with A = 1. When q_y < q_c (others or seed near ε = 1) the
 *     target's term cancels part of b·Σ(x − max): add 1.3e-6·(q_c − q_y)·|x_y − max|.
 *   - gradient of a row (scale g): |error of grad_c| ≤ 2.6e-6·(max_c |grad_c| + |g|·max(q_y, q_c))
 *     (the second term: A·p_c − q_c cancels when p ≈ q).
 *   - lsce_backward recomputes p from the saved fp32 row_lse (off by up to u·|lse|): p's relative
 *     error grows by expm1(u·|lse|) ≈ |lse|·u (at |lse| ≈ 4e7 it reaches 3: an fp32 lse no
 *     longer resolves log V, and p = 1 for every class of a row of equal logits). With a
 *     confidence penalty it sweeps the row's statistics again (for H) and takes p from that
 *     sweep, as the fused call does; the saved lse then only enters z·lse².
 *   - Range: finite logits of one row must span less than FLT_MAX/65 (≈ 5e36): the SIMD sums of
 *     x − max run in fp32 lanes and would overflow to −inf (the smoothed loss then reads +inf).
 *   - objective options: t carries a relative error δ_t ≤ 2u (logit scale: s rounded to fp32,
 *     then the product) or ≤ 9u (softcap: k = s/c and k·x rounded, ≤ 2u, which tanh does not
 *     amplify; tanh within 2.25 ulp ≤ 4.5u, measured over every float in [0, 64] in
 *     tests/test_tanh.c; c rounded to fp32 and c·tanh rounded). To first order the loss then gains
 *     ≤ δ_t·Σ_c |t_c·∂loss/∂t_c| (≤ 2δ_t·max|t|·Ω for the cross-entropy part) and each p_c a
 *     relative ≤ 2δ_t·max_c |t_c|. The softcap chain rule s·v·(2 − v), v within 3.9 ulp of
 *     1 − |tanh y|, is within ≤ 10u of s·(1 − tanh² y) for the fp32 y = k·x; y's own rounding
 *     (≤ 2u) moves 1 − tanh² y by 2|y| times that: ≤ (10 + 4|y|)u relative in all.
 *     Σ β(t − max) and Σ e·(t − max) are one-signed sums like the others; weights, prior, z and β
 *     only change double coefficients.
 *   - 16-bit logits are exact in fp32, so these bounds hold against the upcast inputs; a 16-bit
 *     gradient adds half an ulp of its dtype (the single rounding of the fp32 value).
 *
 * Threads: every entry point is reentrant. The only global state is the dispatch table, set up
 * once (pthread_once) and the variant chosen by lsce_set_isa (an atomic). Calibration bins are an
 * output: concurrent calls need their own (and sum them afterwards).
 *
 * Memory: lsce_forward_backward allocates one scratch row of V floats per call (one more for
 * softcap, and one for a confidence penalty unless the logits are fp32 with no scale or softcap:
 * they are then read as their own t; those extra rows twice when the gradient streams and they
 * fit in 1.25 MiB with the first, see src/rows.c), freed before it returns. Every entry point with
 * class_weight or prior and smoothing > 0 allocates ⌈V/4096⌉ doubles (the off-target weights'
 * sum over each chunk of 4096 classes, formed once per call), plus one row of V floats (ω's
 * off-target part) when both are given. Nothing else allocates. lsce_backward with a confidence
 * penalty reads each row twice (H is not saved; that sweep also gives p, see Accuracy).
 */
#ifndef LSCE_H
#define LSCE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(LSCE_BUILDING_DLL)
#define LSCE_API __declspec(dllexport)
#elif defined(__GNUC__)
#define LSCE_API __attribute__((visibility("default")))
#else
#define LSCE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define LSCE_VERSION_MAJOR 0
#define LSCE_VERSION_MINOR 1
#define LSCE_VERSION_PATCH 0

typedef enum lsce_status {
    LSCE_OK = 0,
    LSCE_ERR_NULL = 1,     /* a required pointer is NULL */
    LSCE_ERR_SHAPE = 2,    /* rows < 0, vocab < 1, stride < vocab, or sizes overflow */
    LSCE_ERR_TARGET = 3,   /* a target outside [0, V) that is not ignore_index */
    LSCE_ERR_OPTION = 4,   /* an option value outside its domain, or not supported yet */
    LSCE_ERR_ISA = 5,      /* unknown variant, or one this CPU (or build) cannot run */
    LSCE_ERR_DTYPE = 6,    /* unknown dtype, or a dtype pair not supported */
    LSCE_ERR_ALIAS = 7,    /* outputs overlap each other or the inputs (other than exact in-place) */
    LSCE_ERR_NOMEM = 8     /* a per-call allocation failed (see Memory above) */
} lsce_status;

typedef enum lsce_convention {
    LSCE_CONV_UNIFORM = 0, /* q_y = 1 − ε + ε/V, q_c = ε/V (PyTorch) */
    LSCE_CONV_OTHERS = 1,  /* q_y = 1 − ε, q_c = ε/(V−1) (fairseq, Megatron) */
    LSCE_CONV_SEED = 2     /* q_y = 1 − ε, q_c = ε/V (the seed's KL class) */
} lsce_convention;

typedef enum lsce_reduction {
    LSCE_REDUCTION_MEAN = 0, /* Σ kept row losses / number of kept rows (0 when none kept) */
    LSCE_REDUCTION_SUM = 1,
    LSCE_REDUCTION_NONE = 2  /* per-row losses; the gradient is that of Σ_r grad_output_r·loss_r */
} lsce_reduction;

/* Storage of logits and gradients (uint16_t arrays for the 16-bit types). All arithmetic is fp32
 * (sums in double); a 16-bit gradient element is the fp32 gradient rounded once, to nearest even
 * (NaN stays NaN, overflow gives ±inf, subnormals are rounded, never flushed): bit for bit the
 * fp32 result of the same variant, rounded (a NaN's sign and payload aside: where NaNs of both
 * signs meet, the one that propagates depends on operand order, not specified). The target element's A·p_y − q_y is formed before
 * that single rounding, so a confident target keeps its precision. */
typedef enum lsce_dtype {
    LSCE_DTYPE_F32 = 0,
    LSCE_DTYPE_BF16 = 1, /* bfloat16 */
    LSCE_DTYPE_F16 = 2   /* IEEE binary16 */
} lsce_dtype;

typedef enum lsce_isa {
    LSCE_ISA_AUTO = 0, /* the variant lsce_set_isa chose, or the best this CPU runs */
    LSCE_ISA_SCALAR = 1,
    LSCE_ISA_AVX2 = 2,   /* AVX2 + FMA */
    LSCE_ISA_AVX512 = 3, /* AVX-512 F/BW/DQ/VL */
    LSCE_ISA_NEON = 4,
    LSCE_ISA_COUNT_ = 5
} lsce_isa;

/* Calibration bins (accumulate across calls; see lsce_ece). */
typedef struct lsce_calibration_bin {
    double count;
    double sum_confidence;
    double sum_correct;
} lsce_calibration_bin;

typedef struct lsce_options {
    double smoothing;            /* ε ∈ [0, 1]; default 0 */
    lsce_convention convention;  /* default uniform */
    int kl;                      /* 1: report KL(q‖p) = CE + Σ q log q per kept row; default 0 */
    int64_t ignore_index;        /* default −100 */
    lsce_reduction reduction;    /* default mean */
    lsce_isa isa;                /* per-call variant; default LSCE_ISA_AUTO */

    /* Objective options (see "Objective options" above). Invalid values are LSCE_ERR_OPTION
     * with nothing written: a NaN or infinite option, a negative weight, s ≤ 0, c < 0, z < 0,
     * β < 0, B outside [0, 1000], a prior with a negative entry or summing to 1 ± more than 1e-4,
     * a prior with convention others or seed. B > 0 with calibration NULL is LSCE_ERR_NULL (at
     * every entry point, though lsce_backward never writes bins). */
    const float *class_weight;   /* V weights w_c ≥ 0, or NULL (all 1) */
    const float *prior;          /* V smoothing prior u_c ≥ 0 summing to 1, or NULL (uniform) */
    const float *row_weight;     /* rows weights ρ_r ≥ 0, or NULL (all 1) */
    double z_loss;               /* z ≥ 0: adds z·lse² per kept row; default 0 */
    double logit_scale;          /* s > 0: t = s·x; default 1 */
    double softcap;              /* c ≥ 0: t = c·tanh(s·x/c); default 0 (off) */
    double confidence_penalty;   /* β ≥ 0: adds β·Σ p log p; default 0 */
    int calibration_bins;        /* B ∈ [0, 1000]; default 0 (off) */
    lsce_calibration_bin *calibration; /* B bins accumulated into, when calibration_bins > 0 */

    /* Storage types: any pair. In place needs equal dtypes (and strides). */
    lsce_dtype logits_dtype;     /* default f32 */
    lsce_dtype grad_dtype;       /* default f32 */
} lsce_options;

/* Reduced results of one call. */
typedef struct lsce_result {
    double loss;       /* reduced loss; with reduction none: Σ of the per-row losses */
    double nll_sum;    /* Σ over kept rows of −log p_y (unsmoothed) */
    double z_sum;      /* Σ over kept rows of ρ_r·z·lse² (the z-loss part of Σ_r loss_r) */
    double denominator;/* what mean divides by: D = Σ over kept rows of ρ_r·w_{y_r} */
    int64_t n_tokens;  /* kept rows */
    int64_t n_correct; /* kept rows whose argmax equals the target */
} lsce_result;

/* Library version "MAJOR.MINOR.PATCH". */
LSCE_API const char *lsce_version(void);

/* Static English text for a status code; never NULL. */
LSCE_API const char *lsce_strerror(lsce_status status);

/* PyTorch defaults: ε = 0, uniform, ignore_index −100, mean, f32, isa auto, no extra terms. */
LSCE_API void lsce_options_default(lsce_options *opts);

/* Name of the variant that runs for LSCE_ISA_AUTO now: "scalar", "avx2", "avx512" or "neon". */
LSCE_API const char *lsce_isa_name(void);

/* Force the variant used for LSCE_ISA_AUTO ("scalar", "avx2", "avx512", "neon"), or NULL / "auto"
 * for the best this CPU runs. LSCE_ERR_ISA (nothing changed) for an unknown name or one this CPU
 * cannot run. The environment variable LSCE_ISA sets the initial choice the same way (an
 * unusable value there is ignored: the best variant runs). */
LSCE_API lsce_status lsce_set_isa(const char *name);

/* Whether this CPU and build can run a variant; its name (NULL for an invalid value). */
LSCE_API int lsce_isa_supported(lsce_isa isa);
LSCE_API const char *lsce_isa_to_string(lsce_isa isa);

/* The CPU features the dispatcher found, e.g. "avx2 fma avx512f avx512bw avx512dq avx512vl". */
LSCE_API const char *lsce_cpu_features(void);

/*
 * Fused forward + backward.
 *   logits:   rows × logits_stride elements of opts->logits_dtype (row r at element
 *             r·logits_stride), V used per row.
 *   targets:  rows class ids in [0, V) or ignore_index.
 *   grad:     rows × grad_stride elements of opts->grad_dtype; may be exactly `logits` with the
 *             same stride and dtype (in place), otherwise it must not overlap any input or output.
 *   grad_output: NULL (1), or for mean/sum a pointer to one scalar, for none `rows` values:
 *             the gradient written is that of grad_output·loss (per row for none).
 *   row_loss, row_lse: optional (NULL) per-row outputs of `rows` floats; ignored rows get 0 loss
 *             and their lse.
 *   result:   optional reduced results.
 * Every argument is checked (and every target) before anything is written: on an error, no output
 * is touched.
 */
LSCE_API lsce_status lsce_forward_backward(const lsce_options *opts, int64_t rows, int64_t vocab,
                                           const void *logits, int64_t logits_stride,
                                           const int64_t *targets, const float *grad_output,
                                           void *grad, int64_t grad_stride, float *row_loss,
                                           float *row_lse, lsce_result *result);

/* Forward only: the same outputs without the gradient (save row_lse for lsce_backward). */
LSCE_API lsce_status lsce_forward(const lsce_options *opts, int64_t rows, int64_t vocab,
                                  const void *logits, int64_t logits_stride,
                                  const int64_t *targets, float *row_loss, float *row_lse,
                                  lsce_result *result);

/* Backward from the row_lse saved by lsce_forward (same options, logits and targets): writes the
 * same gradient lsce_forward_backward writes, within the accuracy bounds above. */
LSCE_API lsce_status lsce_backward(const lsce_options *opts, int64_t rows, int64_t vocab,
                                   const void *logits, int64_t logits_stride,
                                   const int64_t *targets, const float *row_lse,
                                   const float *grad_output, void *grad, int64_t grad_stride);

/* Expected calibration error of accumulated bins: Σ_b n_b/n·|acc_b − conf_b| (0 when empty). */
LSCE_API double lsce_ece(const lsce_calibration_bin *bins, int n_bins);

#ifdef __cplusplus
}
#endif

#endif /* LSCE_H */
