/* Fused CPU kernels for the trainable activations (lib/activations/native.py builds and loads this file).

   Why C: a trainable activation's forward and backward passes are a handful of element-wise
   operations and one reduction per parameter. Torch runs each as its own pass over the whole
   tensor; here each pass is one loop that reads its operands once, keeps every intermediate in
   registers, and adds the parameter gradients into per-column sums as it goes.

   Layout. x is a flat array of n elements read as rows of C columns (the last row may be short).
   Every parameter is an array of C values: a parameter per element of a row (per channel, per
   unit: expanded by the caller), or one value repeated C times. Parameter gradients come back as
   `nacc` arrays of C double sums, acc[k*C + c] (each a sum of float sums of at most 16 rows' terms);
   the caller reduces them to the parameter's shape.
   The gradient of the output, g, is either n values or one value for all (g_scalar: the expanded
   gradient of y.sum()).

   Threads: rows are cut into `threads` contiguous ranges (OpenMP, the same runtime torch uses);
   each thread adds its rows in order into its own sums, and the threads' sums are added in thread
   order: the results depend on the thread count, never on scheduling.

   The file is compiled twice, for float and for double (the second half below, which the file includes
   itself with REAL defined). Transcendentals are glibc's vector functions (libmvec), declared
   `omp declare simd` so that the loops vectorise; -fno-math-errno, no -ffast-math (NaN and inf
   keep their IEEE meaning) and -ffp-contract=off (products and sums round as torch's do). */

#ifndef REAL

#include <math.h>
#include <stdlib.h>
#include <omp.h>

#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern float expm1f(float);
#pragma omp declare simd notinbranch
extern float erff(float);
#pragma omp declare simd notinbranch
extern float sinf(float);
#pragma omp declare simd notinbranch
extern float cosf(float);
#pragma omp declare simd notinbranch
extern float logf(float);
#pragma omp declare simd notinbranch
extern float tanhf(float);
#pragma omp declare simd notinbranch
extern float powf(float, float);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern double tanh(double);
#pragma omp declare simd notinbranch
extern double pow(double, double);
#pragma omp declare simd notinbranch
extern double expm1(double);
#pragma omp declare simd notinbranch
extern double erf(double);
#pragma omp declare simd notinbranch
extern double sin(double);
#pragma omp declare simd notinbranch
extern double cos(double);

#define PARALLEL_MIN 32768      /* fewer elements: one thread (a parallel region costs microseconds) */
#define MAX_PARAMS 4

int native_version(void) { return 1; }

#define REAL float
#define NAME(f) f##_f32
#define EXP expf
#define EXPM1 expm1f
#define ERF erff
#define SIN sinf
#define COS cosf
#define LOG logf
#define TANH tanhf
#define POW powf
#define FABS fabsf
#define COPYSIGN copysignf
#include "native.c"
#undef REAL
#undef NAME
#undef EXP
#undef EXPM1
#undef ERF
#undef SIN
#undef COS
#undef LOG
#undef TANH
#undef POW
#undef FABS
#undef COPYSIGN

#define REAL double
#define NAME(f) f##_f64
#define EXP exp
#define EXPM1 expm1
#define ERF erf
#define SIN sin
#define COS cos
#define LOG log
#define TANH tanh
#define POW pow
#define FABS fabs
#define COPYSIGN copysign
#include "native.c"

#else  /* ---- the kernels, for one REAL type ---------------------------------------------------- */

typedef struct {
    const REAL *x, *g;          /* input; output gradient (n values, or one when g_scalar) */
    REAL *out;                  /* the output (forward) or the input gradient (backward); may be NULL */
    const REAL *p[MAX_PARAMS];  /* parameters, C values each */
    long n, C;
    int g_scalar, nacc, terms;  /* terms: Fourier's K */
} NAME(Args);

typedef void (*NAME(RowFn))(const NAME(Args) *a, long off, long len, REAL *acc);

/* Run f on every row; add the rows' sums into acc (nacc*C doubles, overwritten). 0, or -1 when
   out of memory. A row adds its terms into REAL sums (in float32, half the work of converting each
   term to double), which are added into double sums every BLOCK_ROWS rows: each float32 sum holds at
   most BLOCK_ROWS terms. */
#define BLOCK_ROWS 16
static int NAME(run)(const NAME(Args) *a, NAME(RowFn) f, double *acc, int threads) {
    long rows = a->C > 0 ? (a->n + a->C - 1) / a->C : 0;
    long width = acc ? (long)a->nacc * a->C : 0;
    if (threads < 1 || a->n < PARALLEL_MIN) threads = 1;
    if (threads > rows) threads = rows > 0 ? (int)rows : 1;
    double *partial = NULL;
    REAL *block = NULL;
    if (width) {
        partial = calloc((size_t)threads * (size_t)width, sizeof(double));
        block = calloc((size_t)threads * (size_t)width, sizeof(REAL));
        if (!partial || !block) {
            free(partial);
            free(block);
            return -1;
        }
    }
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int count = omp_get_num_threads(), t = omp_get_thread_num();
        long r0 = rows * t / count, r1 = rows * (t + 1) / count;
        double *mine = width ? partial + (long)t * width : NULL;
        REAL *local = width ? block + (long)t * width : NULL;
        for (long r = r0; r < r1; r++) {
            long off = r * a->C, len = a->n - off < a->C ? a->n - off : a->C;
            f(a, off, len, local);
            if (width && ((r - r0) % BLOCK_ROWS == BLOCK_ROWS - 1 || r == r1 - 1)) {
#pragma omp simd
                for (long j = 0; j < width; j++) {
                    mine[j] += (double)local[j];
                    local[j] = 0;
                }
            }
        }
    }
    if (width) {
        for (long j = 0; j < width; j++) {
            double s = 0.0;
            for (int t = 0; t < threads; t++) s += partial[(long)t * width + j];
            acc[j] = s;
        }
        free(partial);
        free(block);
    }
    return 0;
}
#undef BLOCK_ROWS

#define ROW_POINTERS                                                   \
    const REAL *x = a->x + off;                                       \
    const REAL *g = a->g_scalar ? a->g : a->g + off;                  \
    const int gs = a->g_scalar;                                       \
    const REAL g0 = a->g ? a->g[0] : 0;                               \
    REAL *o = a->out ? a->out + off : NULL;                           \
    (void)g; (void)gs; (void)g0; (void)o;
/* for (c < len) body, with gc the output gradient at c: two loops, so that neither loads g under a
   condition (which would keep the loop from vectorising) */
#define FOR_EACH(...)                                                                           \
    do {                                                                                        \
        if (gs) {                                                                               \
            _Pragma("omp simd") for (long c = 0; c < len; c++) { const REAL gc = g0; __VA_ARGS__ } \
        } else {                                                                                \
            _Pragma("omp simd") for (long c = 0; c < len; c++) { const REAL gc = g[c]; __VA_ARGS__ } \
        }                                                                                       \
    } while (0)

/* --- TLeakyReLU: x if x > 0 else z·x.  acc: Σ g·min(x, 0) ------------------------------------ */

static void NAME(leaky_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *z = a->p[0];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) o[c] = x[c] > 0 ? x[c] : z[c] * x[c];
}

static void NAME(leaky_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *z = a->p[0];
    /* selects of values, products of the selection: a loop with gc under a condition stays scalar.
       Two loops, not one: for arithmetic this cheap, one loop storing both results runs slower than
       two over a row that stays in L1 (measured: 0.39 ms against 0.18 + 0.13 at (4096, 512)) */
    if (o) FOR_EACH(o[c] = gc * (x[c] > 0 ? (REAL)1 : z[c]););
    if (acc) FOR_EACH(acc[c] += (gc * (x[c] < 0 ? x[c] : (REAL)0)););
}

/* --- THardswish as (z/3)·hardswish(u), u = x·(3/z).  p: 3/z, z/3.  acc: Σ g·u² on |u| < 3 ----- */

static void NAME(hardswish_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *scale = a->p[0], *back = a->p[1];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) {
        REAL u = x[c] * scale[c], t = u + 3;
        t = t < 0 ? 0 : t;
        t = t > 6 ? 6 : t;
        o[c] = u * t * ((REAL)1 / 6) * back[c];      /* a product, not torch's division: 4x fewer cycles */
    }
}

static void NAME(hardswish_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *scale = a->p[0];
#define HARDSWISH_SLOPE (u < -3 ? (REAL)0 : (u <= 3 ? u * ((REAL)1 / 3) + (REAL)0.5 : (REAL)1))
    /* two loops, as TLeakyReLU's (one storing both: 0.57 ms, two: 0.22 + 0.15) */
    if (o) FOR_EACH(
        REAL u = x[c] * scale[c];
        o[c] = gc * HARDSWISH_SLOPE;);
#undef HARDSWISH_SLOPE
    if (acc) FOR_EACH(
        REAL u = x[c] * scale[c];
        REAL inside = ((u > -3) & (u < 3)) ? u : (REAL)0;      /* &, not &&: no branch in the loop */
        acc[c] += (gc * inside * inside););
}

/* --- TSELU: z·x for x > 0, z·w·expm1(x) otherwise.  acc: Σ g·max(x, 0), Σ g·expm1(min(x, 0)) --- */

static void NAME(selu_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *z = a->p[0], *w = a->p[1];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) {
        REAL m = x[c] < 0 ? x[c] : 0;
        REAL e = EXPM1(m);
        o[c] = x[c] <= 0 ? e * w[c] * z[c] : x[c] * z[c];
    }
}

static void NAME(selu_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *z = a->p[0], *w = a->p[1];
    /* elu_backward's order: g·(w·z)·e^x on x <= 0 (the left slope at 0), g·z above */
    REAL *positive = acc, *negative = acc ? acc + a->C : NULL;
    if (o && acc) FOR_EACH(
        REAL m = x[c] < 0 ? x[c] : 0, p = x[c] > 0 ? x[c] : 0;
        REAL e = EXP(m), e1 = EXPM1(m);
        o[c] = gc * (x[c] <= 0 ? w[c] * z[c] : z[c]) * (x[c] <= 0 ? e : (REAL)1);
        positive[c] += (p * gc);
        negative[c] += (e1 * gc););
    else if (o) FOR_EACH(
        REAL m = x[c] < 0 ? x[c] : 0;
        REAL e = EXP(m);
        o[c] = gc * (x[c] <= 0 ? w[c] * z[c] : z[c]) * (x[c] <= 0 ? e : (REAL)1););
    else if (acc) {
        FOR_EACH(
            REAL m = x[c] < 0 ? x[c] : 0, p = x[c] > 0 ? x[c] : 0;
            REAL e = EXPM1(m);
            positive[c] += (p * gc);
            negative[c] += (e * gc););
    }
}

/* --- TSwish: x·σ(βx).  acc: Σ g·σ'(βx)·x² ------------------------------------------------------ */

static void NAME(swish_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *beta = a->p[0];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) {
        REAL t = x[c] * beta[c];
        o[c] = 1 / (1 + EXP(-t)) * x[c];
    }
}

static void NAME(swish_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *beta = a->p[0];
    /* silu_backward's order for the input gradient; sigmoid_backward's, then x², for β's */
    if (o && acc) FOR_EACH(
        REAL t = x[c] * beta[c], s = 1 / (1 + EXP(-t));
        o[c] = gc * s * (1 + t * (1 - s));
        acc[c] += (gc * (1 - s) * s * x[c] * x[c]););
    else if (o) FOR_EACH(
        REAL t = x[c] * beta[c], s = 1 / (1 + EXP(-t));
        o[c] = gc * s * (1 + t * (1 - s)););
    else if (acc) FOR_EACH(
        REAL t = x[c] * beta[c], s = 1 / (1 + EXP(-t));
        acc[c] += (gc * (1 - s) * s * x[c] * x[c]););
}

/* --- TGELU as back·gelu(u), u = x·scale.  forward p: scale, back; backward p: scale, 2z.
       acc: Σ g·u²·e^{-u²/2}, Σ u·g·gelu'(u) ------------------------------------------------------ */

#define GELU_ALPHA ((REAL)0.70710678118654752440)       /* 1/√2 */
#define GELU_BETA ((REAL)0.39894228040143267794)        /* 1/√(2π) */

static void NAME(gelu_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *scale = a->p[0], *back = a->p[1];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) {
        REAL u = x[c] * scale[c];
        o[c] = u * (REAL)0.5 * (1 + ERF(u * GELU_ALPHA)) * back[c];
    }
}

static void NAME(gelu_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *scale = a->p[0], *double_z = a->p[1];
    REAL *density = acc, *product = acc ? acc + a->C : NULL;
    /* gelu_backward's g·gelu'(u) = g·(Φ(u) + u·φ(u)) */
#define GELU_TERMS                                                  \
        REAL u = x[c] * scale[c];                                   \
        REAL cdf = (REAL)0.5 * (1 + ERF(u * GELU_ALPHA));           \
        REAL bell = EXP(u * u * (REAL)-0.5);                        \
        REAL slope = gc * (cdf + u * bell * GELU_BETA);
    if (o && acc) FOR_EACH(
        GELU_TERMS
        o[c] = slope * double_z[c];
        density[c] += (u * u * bell * gc);
        product[c] += (u * slope););
    else if (o) FOR_EACH(
        GELU_TERMS
        o[c] = slope * double_z[c];);
    else if (acc) FOR_EACH(
        GELU_TERMS
        density[c] += (u * u * bell * gc);
        product[c] += (u * slope););
#undef GELU_TERMS
}

/* --- TSQRT: sign(x)·|x|^z.  The slope z·max(|x|, δ)^(z-1) where z < 1 (z·|x|^(z-1) elsewhere, 1 for
       0^0) and d/dz = sign(x)|x|^z·ln|x| (0 at x = 0), both from ln|x| by exp, as the torch code.
       acc: Σ g·d/dz ---------------------------------------------------------------------------- */

#define SLOPE_FLOOR ((REAL)1e-6)      /* δ */
#define NAN_TO(v, value) ((v) == (v) ? (v) : (REAL)(value))

static void NAME(signed_power_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *z = a->p[0];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) o[c] = COPYSIGN(POW(FABS(x[c]), z[c]), x[c]);
}

/* the capped slope of the signed power from la = ln|x| (exponent e = z or k) */
#define CAPPED_SLOPE(la, e, log_floor) \
    ((e) * NAN_TO(EXP((((e) < 1) & ((la) < (log_floor)) ? (log_floor) : (la)) * ((e) - 1)), 1))

static void NAME(signed_power_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *z = a->p[0];
    const REAL log_floor = LOG(SLOPE_FLOOR);
    if (o && acc) FOR_EACH(
        REAL la = LOG(FABS(x[c]));
        REAL power = COPYSIGN(EXP(la * z[c]), x[c]);
        acc[c] += (NAN_TO(power * la, 0) * gc);
        o[c] = CAPPED_SLOPE(la, z[c], log_floor) * gc;);
    else if (o) FOR_EACH(
        REAL la = LOG(FABS(x[c]));
        o[c] = CAPPED_SLOPE(la, z[c], log_floor) * gc;);
    else if (acc) FOR_EACH(
        REAL la = LOG(FABS(x[c]));
        REAL power = COPYSIGN(EXP(la * z[c]), x[c]);
        acc[c] += (NAN_TO(power * la, 0) * gc););
}

/* --- TSQRT_tanh: x·tanh(e^{min(s, 20)}), s = sign(x)|x|^k.  With T = tanh(E), E = e^{min(s, 20)},
       Q = x·E·(1 - T²): df/dx = T + Q·ds/dx, df/dk = Q·s·ln|x|; s in the backward from ln|x| by exp
       (as the torch code).  acc: Σ g·df/dk ------------------------------------------------------ */

#define EXP_CLAMP ((REAL)20)

static void NAME(tanh_exp_power_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *k = a->p[0];
    REAL *o = a->out + off;
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) {
        REAL s = COPYSIGN(POW(FABS(x[c]), k[c]), x[c]);
        s = s > EXP_CLAMP ? EXP_CLAMP : s;
        o[c] = TANH(EXP(s)) * x[c];
    }
}

static void NAME(tanh_exp_power_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *k = a->p[0];
    const REAL log_floor = LOG(SLOPE_FLOOR);
#define TANH_EXP_TERMS                                              \
        REAL la = LOG(FABS(x[c]));                                  \
        REAL s = COPYSIGN(EXP(la * k[c]), x[c]);                    \
        REAL ds_dk = NAN_TO(s * la, 0);                             \
        REAL e = EXP(s > EXP_CLAMP ? EXP_CLAMP : s), t = TANH(e);   \
        REAL q = e * (1 - t * t) * x[c];
    if (o && acc) FOR_EACH(
        TANH_EXP_TERMS
        acc[c] += (ds_dk * q * gc);
        o[c] = (CAPPED_SLOPE(la, k[c], log_floor) * q + t) * gc;);
    else if (o) FOR_EACH(
        TANH_EXP_TERMS
        (void)ds_dk;
        o[c] = (CAPPED_SLOPE(la, k[c], log_floor) * q + t) * gc;);
    else if (acc) FOR_EACH(
        TANH_EXP_TERMS
        acc[c] += (ds_dk * q * gc););
#undef TANH_EXP_TERMS
}

#undef SLOPE_FLOOR
#undef NAN_TO
#undef CAPPED_SLOPE
#undef EXP_CLAMP

/* --- Fourier: b + Σ_k c_k cos(w_k x - φ_k), K = terms; p: c, φ, w (K values each, shared by all
       elements), b (one value).  acc (per k): Σ g·cos θ_k, Σ g·sin θ_k, Σ g·x·sin θ_k ------------ */

static void NAME(fourier_forward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    const REAL *x = a->x + off, *amp = a->p[0], *phase = a->p[1], *freq = a->p[2];
    REAL *o = a->out + off;
    const REAL bias = a->p[3][0];
    (void)acc;
#pragma omp simd
    for (long c = 0; c < len; c++) o[c] = bias;
    for (int k = 0; k < a->terms; k++) {
        const REAL ck = amp[k], pk = phase[k], wk = freq[k];
#pragma omp simd
        for (long c = 0; c < len; c++) o[c] += ck * COS(wk * x[c] - pk);
    }
}

static void NAME(fourier_backward_row)(const NAME(Args) *a, long off, long len, REAL *acc) {
    ROW_POINTERS
    const REAL *amp = a->p[0], *phase = a->p[1], *freq = a->p[2];
    const long C = a->C;
    if (o) {
#pragma omp simd
        for (long c = 0; c < len; c++) o[c] = 0;
    }
    for (int k = 0; k < a->terms; k++) {
        const REAL pk = phase[k], wk = freq[k], weight = -amp[k] * freq[k];
        REAL *sum_cos = acc ? acc + (3L * k) * C : NULL;
        REAL *sum_sin = acc ? acc + (3L * k + 1) * C : NULL;
        REAL *sum_xsin = acc ? acc + (3L * k + 2) * C : NULL;
        if (o && acc) FOR_EACH(
            REAL theta = wk * x[c] - pk, s = SIN(theta), q = COS(theta);
            o[c] += weight * s;
            sum_cos[c] += (gc * q);
            sum_sin[c] += (gc * s);
            sum_xsin[c] += (gc * x[c] * s););
        else if (acc) FOR_EACH(
            REAL theta = wk * x[c] - pk, s = SIN(theta), q = COS(theta);
            sum_cos[c] += (gc * q);
            sum_sin[c] += (gc * s);
            sum_xsin[c] += (gc * x[c] * s););
        else if (o) {
#pragma omp simd
            for (long c = 0; c < len; c++) o[c] += weight * SIN(wk * x[c] - pk);
        }
    }
    if (o) FOR_EACH(o[c] *= gc;);
}

/* --- entry points: (x, g, out, p0..p3, n, C, g_scalar, terms, acc, threads) -> 0 or -1 -------- */

#define ENTRY(kernel, accumulators)                                                                  \
    int NAME(kernel)(const REAL *x, const REAL *g, REAL *out, const REAL *p0, const REAL *p1,        \
                     const REAL *p2, const REAL *p3, long n, long C, int g_scalar, int terms,        \
                     double *acc, int threads) {                                                     \
        NAME(Args) a = {x, g, out, {p0, p1, p2, p3}, n, C, g_scalar, (accumulators), terms};        \
        return NAME(run)(&a, NAME(kernel##_row), acc, threads);                                      \
    }

ENTRY(leaky_forward, 0)
ENTRY(leaky_backward, 1)
ENTRY(hardswish_forward, 0)
ENTRY(hardswish_backward, 1)
ENTRY(selu_forward, 0)
ENTRY(selu_backward, 2)
ENTRY(swish_forward, 0)
ENTRY(swish_backward, 1)
ENTRY(gelu_forward, 0)
ENTRY(gelu_backward, 2)
ENTRY(signed_power_forward, 0)
ENTRY(signed_power_backward, 1)
ENTRY(tanh_exp_power_forward, 0)
ENTRY(tanh_exp_power_backward, 1)
ENTRY(fourier_forward, 0)
ENTRY(fourier_backward, 3 * terms)

#undef ROW_POINTERS
#undef FOR_EACH
#undef ENTRY
#undef GELU_ALPHA
#undef GELU_BETA

#endif
