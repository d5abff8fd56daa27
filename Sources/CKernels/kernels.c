#define _GNU_SOURCE
#include "CKernels.h"
#include <dlfcn.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && !defined(__APPLE__)
#define TK_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define TK_CLONES
#endif

#define BIN_LOOP(EXPR)                                                                 \
    if (sa == 1 && sb == 1) { for (long i = 0; i < n; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); } } \
    else if (sa == 1) { float y = b[0]; for (long i = 0; i < n; i++) { float x = a[i]; out[i] = (EXPR); } }  \
    else if (sb == 1) { float x = a[0]; for (long i = 0; i < n; i++) { float y = b[i]; out[i] = (EXPR); } }  \
    else { float x = a[0], y = b[0]; float v = (EXPR); for (long i = 0; i < n; i++) out[i] = v; }

TK_CLONES void tk_binary_f32(int op, const float *a, long sa, const float *b, long sb, float *out, long n) {
    switch (op) {
    case TK_ADD: BIN_LOOP(x + y); break;
    case TK_SUB: BIN_LOOP(x - y); break;
    case TK_MUL: BIN_LOOP(x * y); break;
    case TK_DIV: BIN_LOOP(x / y); break;
    case TK_MAX: BIN_LOOP(x > y ? x : y); break;
    case TK_MIN: BIN_LOOP(x < y ? x : y); break;
    case TK_GE: BIN_LOOP(x >= y ? 1.0f : 0.0f); break;
    case TK_GT: BIN_LOOP(x > y ? 1.0f : 0.0f); break;
    }
}

TK_CLONES void tk_affine_f32(const float *a, float s, float t, float *out, long n) {
    for (long i = 0; i < n; i++) out[i] = a[i] * s + t;
}

TK_CLONES void tk_axpy_f32(float alpha, const float *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] += alpha * x[i];
}

TK_CLONES void tk_reduce_sum_f32(const float *in, long outer, long red, long inner, float *out) {
    if (inner == 1) {
        for (long o = 0; o < outer; o++) {
            const float *p = in + o * red;
            float acc[16] = {0};
            long r = 0;
            for (; r + 16 <= red; r += 16)
                for (int k = 0; k < 16; k++) acc[k] += p[r + k];
            float s = 0;
            for (int k = 0; k < 16; k++) s += acc[k];
            for (; r < red; r++) s += p[r];
            out[o] = s;
        }
        return;
    }
    for (long o = 0; o < outer; o++) {
        float *dst = out + o * inner;
        const float *src = in + o * red * inner;
        for (long i = 0; i < inner; i++) dst[i] = src[i];
        for (long r = 1; r < red; r++) {
            const float *row = src + r * inner;
            for (long i = 0; i < inner; i++) dst[i] += row[i];
        }
    }
}

TK_CLONES void tk_reduce_max_f32(const float *in, long outer, long red, long inner, float *out) {
    for (long o = 0; o < outer; o++) {
        float *dst = out + o * inner;
        const float *src = in + o * red * inner;
        for (long i = 0; i < inner; i++) dst[i] = src[i];
        for (long r = 1; r < red; r++) {
            const float *row = src + r * inner;
            for (long i = 0; i < inner; i++) dst[i] = row[i] > dst[i] ? row[i] : dst[i];
        }
    }
}

TK_CLONES void tk_fill_f32(float *out, float v, long n) {
    for (long i = 0; i < n; i++) out[i] = v;
}

static void strided_copy_rec(const float *in, const long *dims, const long *strides, int ndim, float **out) {
    if (ndim == 1) {
        long n = dims[0], s = strides[0];
        float *o = *out;
        if (s == 1) memcpy(o, in, (size_t)n * sizeof(float));
        else for (long i = 0; i < n; i++) o[i] = in[i * s];
        *out = o + n;
        return;
    }
    for (long i = 0; i < dims[0]; i++) strided_copy_rec(in + i * strides[0], dims + 1, strides + 1, ndim - 1, out);
}

void tk_strided_copy_f32(const float *in, const long *dims, const long *strides, int ndim, float *out) {
    if (ndim == 0) { out[0] = in[0]; return; }
    for (int d = 0; d < ndim; d++) if (dims[d] == 0) return;
    float *o = out;
    strided_copy_rec(in, dims, strides, ndim, &o);
}

static void strided_scatter_rec(const float **in, const long *dims, const long *strides, int ndim, float *out, int acc) {
    if (ndim == 1) {
        long n = dims[0], s = strides[0];
        const float *src = *in;
        if (acc) { for (long i = 0; i < n; i++) out[i * s] += src[i]; }
        else if (s == 1) memcpy(out, src, (size_t)n * sizeof(float));
        else for (long i = 0; i < n; i++) out[i * s] = src[i];
        *in = src + n;
        return;
    }
    for (long i = 0; i < dims[0]; i++) strided_scatter_rec(in, dims + 1, strides + 1, ndim - 1, out + i * strides[0], acc);
}

void tk_strided_scatter_f32(const float *in, const long *dims, const long *strides, int ndim, float *out, int accumulate) {
    if (ndim == 0) { if (accumulate) out[0] += in[0]; else out[0] = in[0]; return; }
    for (int d = 0; d < ndim; d++) if (dims[d] == 0) return;
    const float *p = in;
    strided_scatter_rec(&p, dims, strides, ndim, out, accumulate);
}

TK_CLONES double tk_sum_f32(const float *x, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}

TK_CLONES double tk_sumsq_f32(const float *x, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { /* subnormal */
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) bits = sign | 0x7f800000 | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f; memcpy(&f, &bits, 4); return f;
}

static uint16_t float_to_half(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t h = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}

void tk_f16_to_f32(const uint16_t *in, float *out, long n) { for (long i = 0; i < n; i++) out[i] = half_to_float(in[i]); }
void tk_f32_to_f16(const float *in, uint16_t *out, long n) { for (long i = 0; i < n; i++) out[i] = float_to_half(in[i]); }
void tk_bf16_to_f32(const uint16_t *in, float *out, long n) {
    for (long i = 0; i < n; i++) { uint32_t b = (uint32_t)in[i] << 16; memcpy(&out[i], &b, 4); }
}
void tk_f32_to_bf16(const float *in, uint16_t *out, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t x; memcpy(&x, &in[i], 4);
        if ((x & 0x7fffffff) > 0x7f800000) { out[i] = (uint16_t)((x >> 16) | 0x40); continue; }
        uint32_t rounding = 0x7fff + ((x >> 16) & 1);
        out[i] = (uint16_t)((x + rounding) >> 16);
    }
}

int tk_set_omp_threads(int n) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) return 0;
    set(n);
    return 1;
}

int tk_get_omp_threads(void) {
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    return get ? get() : 0;
}

// ---- Optimizer updates (module Optimizers) ----
// Contraction is off in these loops so that the AVX-512, AVX2+FMA and baseline clones round identically (an
// optimizer then gives the same bits on every x86-64 machine), and each loop evaluates PyTorch's expressions in
// PyTorch's order. sqrt goes through a builtin that ignores errno so the loop still vectorises.
#if defined(__has_builtin)
#if __has_builtin(__builtin_elementwise_sqrt)
#define TK_SQRTF(x) __builtin_elementwise_sqrt(x)
#endif
#endif
#ifndef TK_SQRTF
#define TK_SQRTF(x) sqrtf(x)
#endif

TK_CLONES void tk_scale_f32(float *x, float s, long n) {
#pragma STDC FP_CONTRACT OFF
    for (long i = 0; i < n; i++) x[i] = x[i] * s;
}

TK_CLONES void tk_sgd_update(float *p, const float *g, float *buf, long n, float neg_lr, float weight_decay,
                             float grad_scale, float momentum, float one_minus_dampening, int nesterov, int first_step) {
#pragma STDC FP_CONTRACT OFF
    const int decay = weight_decay != 0.0f;
    if (!buf) {
        for (long i = 0; i < n; i++) {
            float d = g[i] * grad_scale;
            if (decay) d = d + weight_decay * p[i];
            p[i] = p[i] + neg_lr * d;
        }
        return;
    }
    for (long i = 0; i < n; i++) {
        float d = g[i] * grad_scale;
        if (decay) d = d + weight_decay * p[i];
        float b = first_step ? d : buf[i] * momentum + one_minus_dampening * d;
        buf[i] = b;
        float u = nesterov ? d + momentum * b : b;
        p[i] = p[i] + neg_lr * u;
    }
}

TK_CLONES void tk_adam_update(float *p, const float *g, float *m, float *v, long n, float grad_scale,
                              float weight_decay, int decoupled, float decay, float lerp_weight, float beta2,
                              float one_minus_beta2, float bias_correction2_sqrt, float eps, float neg_step_size) {
#pragma STDC FP_CONTRACT OFF
    // ATen's lerp: weight < 0.5 ? m + w*(g - m) : g - (1 - w)*(g - m); written as base + coeff*(g - m), where
    // coeff = w - 1 = -(1 - w) exactly for w in [0.5, 1].
    const int small = fabsf(lerp_weight) < 0.5f;
    const float coeff = small ? lerp_weight : lerp_weight - 1.0f;
    const int l2 = !decoupled && weight_decay != 0.0f;
    for (long i = 0; i < n; i++) {
        float pi = p[i];
        float gi = g[i] * grad_scale;
        if (decoupled) pi = pi * decay;
        if (l2) gi = gi + weight_decay * pi;
        float mi = m[i];
        mi = (small ? mi : gi) + coeff * (gi - mi);
        float vi = v[i] * beta2;
        vi = vi + one_minus_beta2 * gi * gi;
        float denom = TK_SQRTF(vi) / bias_correction2_sqrt + eps;
        p[i] = pi + neg_step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

TK_CLONES double tk_sumsq_lanes_f32(const float *x, long n) {
#pragma STDC FP_CONTRACT OFF
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
