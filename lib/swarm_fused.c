/* A whole swarm's training in one call (lib/swarm_fused.py builds, loads and calls this file).

   What it trains: the swarm post's default regime with one hidden layer, y = w2·act(w1 x + b1) + b2
   (one input, `width` hidden units, one output), full-batch gradient descent on the mean squared
   error with torch.optim.SGD's momentum (buf = g at the first step, then buf = m·buf + g;
   p -= lr·buf), every bee on its own, from the starting weights it is given. Each epoch records,
   before the update, the prediction at every point, the loss and the first layer's kinks -b1/w1.
   A bee whose loss is not finite stops there: its epoch is returned and its later records are NaN.

   Why C: a bee of 10 units on 61 points is a few thousand flops an epoch; torch spends far more
   than that on dispatching each of the epoch's two dozen tensor ops, even stacked over bees.

   The arithmetic follows lib.ensemble's written-out gradients op for op (the same formulas, the
   same float type), so results agree with the torch engines to float rounding; sums are taken in
   another order. Bees are independent: with several threads each takes a contiguous share of
   them, so the results never depend on the thread count. Compiled for float and for double (the
   file includes itself with REAL defined). */

#ifndef REAL

#include <math.h>
#include <stdlib.h>
#include <omp.h>

/* glibc's vector versions (libmvec), so that the loops over a layer's units vectorise */
#pragma omp declare simd notinbranch
extern float tanhf(float);
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern float sinf(float);
#pragma omp declare simd notinbranch
extern float cosf(float);
#pragma omp declare simd notinbranch
extern double tanh(double);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double sin(double);
#pragma omp declare simd notinbranch
extern double cos(double);

enum { RELU = 0, TANH = 1, SIGMOID = 2, TANHSHRINK = 3, SNAKE = 4, X_PLUS_SIN = 5 };

#define REAL float
#define NAME(f) f##_f32
#define SUFFIX(name) name##f
#include "swarm_fused.c"
#undef REAL
#undef NAME
#undef SUFFIX

#define REAL double
#define NAME(f) f##_f64
#define SUFFIX(name) name
#include "swarm_fused.c"

#else  /* ---- one REAL type --------------------------------------------------------------------- */

/* h = act(z) and dh/dz from z and h, as lib.ensemble's _activation_backward (autograd for the periodic
   ones); one loop over the units per kind, so that each vectorises */
#define UNITS_FORWARD(ACT, SLOPE)                                       \
    _Pragma("omp simd reduction(+:total)")                              \
    for (long u = 0; u < W; u++) {                                      \
        REAL z = b1[u] + xj * w1[u];                                    \
        REAL hz = (ACT);                                                \
        hj[u] = hz;                                                     \
        sj[u] = (SLOPE);                                                \
        total += hz * w2[u];                                            \
    }

static int NAME(train_bee)(const REAL *x, const REAL *y, long N, long W, REAL *w1, REAL *b1, REAL *w2, REAL *b2,
                           int kind, REAL a, long epochs, REAL lr, REAL momentum, REAL *ypred, REAL *loss,
                           REAL *kinks, long *diverged_at, REAL *scratch) {
    REAL *h = scratch, *slope = scratch + N * W, *out = scratch + 2 * N * W, *g = out + N;
    REAL *buf = g + N;                 /* momentum buffers: w1, b1, w2 (W each), b2 */
    REAL *gw1 = buf + 3 * W + 1, *gb1 = gw1 + W, *gw2 = gb1 + W;
    const REAL scale = (REAL)(2.0 / (double)N);
    *diverged_at = -1;
    for (long e = 0; e < epochs; e++) {
        /* forward: z = b1 + x·w1, h = act(z), out = b2 + Σ_u h·w2 */
        for (long j = 0; j < N; j++) {
            REAL *hj = h + j * W, *sj = slope + j * W, total = 0;
            const REAL xj = x[j];
            switch (kind) {
            case RELU: UNITS_FORWARD(z > 0 ? z : (z == z ? (REAL)0 : z), hz <= 0 ? (REAL)0 : (REAL)1) break;
            case TANH: UNITS_FORWARD(SUFFIX(tanh)(z), 1 - hz * hz) break;
            case SIGMOID: UNITS_FORWARD(1 / (1 + SUFFIX(exp)(-z)), hz * (1 - hz)) break;
            case TANHSHRINK: UNITS_FORWARD(z - SUFFIX(tanh)(z), (z - hz) * (z - hz)) break;
            case SNAKE:
                if (a == 0) {
                    UNITS_FORWARD(z, (REAL)1)
                } else {
                    UNITS_FORWARD(SUFFIX(sin)(a * z) * SUFFIX(sin)(a * z) / a + z, 1 + SUFFIX(sin)(2 * a * z))
                }
                break;
            default: UNITS_FORWARD(z + SUFFIX(sin)(z), 1 + SUFFIX(cos)(z)) break;
            }
            out[j] = *b2 + total;
        }
        REAL squares = 0;
        for (long j = 0; j < N; j++) {
            REAL d = out[j] - y[j];
            squares += d * d;
        }
        REAL mean = squares / (REAL)N;
        if (ypred) for (long j = 0; j < N; j++) ypred[e * N + j] = out[j];
        if (loss) loss[e] = mean;
        if (kinks) for (long u = 0; u < W; u++) kinks[e * W + u] = -b1[u] / w1[u];
        if (!isfinite(mean)) {
            *diverged_at = e;
            for (long f = e + 1; f < epochs; f++) {
                if (ypred) for (long j = 0; j < N; j++) ypred[f * N + j] = NAN;
                if (loss) loss[f] = NAN;
                if (kinks) for (long u = 0; u < W; u++) kinks[f * W + u] = NAN;
            }
            return 0;
        }
        /* backward: g = (out - y)·2/N; dW2 = Σ_j h g, db2 = Σ_j g; dz = g·w2·act'(z) */
        REAL gb2 = 0;
        for (long u = 0; u < W; u++) gw1[u] = gb1[u] = gw2[u] = 0;
        for (long j = 0; j < N; j++) {
            g[j] = (out[j] - y[j]) * scale;
            gb2 += g[j];
            const REAL *hj = h + j * W, *sj = slope + j * W, gj = g[j], xj = x[j];
#pragma omp simd
            for (long u = 0; u < W; u++) {
                REAL dz = gj * w2[u] * sj[u];
                gw2[u] += hj[u] * gj;
                gb1[u] += dz;
                gw1[u] += dz * xj;
            }
        }
        /* SGD with momentum, as torch.optim.SGD (no dampening, weight decay or Nesterov) */
        REAL *params[4] = {w1, b1, w2, b2}, *grads[4] = {gw1, gb1, gw2, &gb2};
        long sizes[4] = {W, W, W, 1};
        REAL *b = buf;
        for (int k = 0; k < 4; k++) {
            for (long u = 0; u < sizes[k]; u++) {
                REAL step = grads[k][u];
                if (momentum != 0) {
                    b[u] = e == 0 ? step : b[u] * momentum + step;
                    step = b[u];
                }
                params[k][u] += -lr * step;
            }
            b += sizes[k];
        }
    }
    return 0;
}

/* Train `bees` bees: x, y (N); w1, b1, w2 (bees, W) and b2 (bees) are the starting weights and come back
   trained; ypred (bees, epochs, N), loss (bees, epochs), kinks (bees, epochs, W) may each be NULL;
   diverged_at (bees): the epoch whose loss was not finite, or -1. 0, or -1 when out of memory. */
int NAME(swarm_train)(const REAL *x, const REAL *y, long N, long W, long bees, REAL *w1, REAL *b1, REAL *w2,
                      REAL *b2, int kind, double a, long epochs, double lr, double momentum, REAL *ypred,
                      REAL *loss, REAL *kinks, long *diverged_at, int threads) {
    if (threads < 1 || bees < 2) threads = 1;
    if (threads > bees) threads = (int)bees;
    long per_bee = 2 * N * W + 2 * N + 6 * W + 1;
    REAL *scratch = malloc((size_t)threads * (size_t)per_bee * sizeof(REAL));
    if (!scratch) return -1;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int count = omp_get_num_threads(), t = omp_get_thread_num();
        for (long i = bees * t / count; i < bees * (t + 1) / count; i++) {
            NAME(train_bee)(x, y, N, W, w1 + i * W, b1 + i * W, w2 + i * W, b2 + i, kind, (REAL)a, epochs,
                            (REAL)lr, (REAL)momentum, ypred ? ypred + i * epochs * N : NULL,
                            loss ? loss + i * epochs : NULL, kinks ? kinks + i * epochs * W : NULL,
                            diverged_at + i, scratch + (long)t * per_bee);
        }
    }
    free(scratch);
    return 0;
}

#undef UNITS_FORWARD

#endif
