// Hot elementwise and reduction loops in C, compiled for several ISAs with `target_clones`
// (the Swift compiler targets baseline x86-64 / SSE only; see shared NOTES.md).
#ifndef TK_CKERNELS_H
#define TK_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

typedef enum { TK_ADD = 0, TK_SUB = 1, TK_MUL = 2, TK_DIV = 3, TK_MAX = 4, TK_MIN = 5, TK_GE = 6, TK_GT = 7 } tk_binary_op;

/// out[i] = a[i*sa] OP b[i*sb] for i in 0..<n, where sa, sb are 0 (broadcast) or 1.
void tk_binary_f32(int op, const float *a, long sa, const float *b, long sb, float *out, long n);
/// out[i] = a[i] * s + t
void tk_affine_f32(const float *a, float s, float t, float *out, long n);
/// y[i] += alpha * x[i]
void tk_axpy_f32(float alpha, const float *x, float *y, long n);
/// out[o, i] = sum_r in[o, r, i]  (in is [outer, red, inner], contiguous)
void tk_reduce_sum_f32(const float *in, long outer, long red, long inner, float *out);
/// out[o, i] = max_r in[o, r, i]
void tk_reduce_max_f32(const float *in, long outer, long red, long inner, float *out);
/// Fills out[0..<n] with v.
void tk_fill_f32(float *out, float v, long n);
/// out[i] = (a[i] == b[i*sb]) ? 1 : 0
void tk_equal_mask_f32(const float *a, const float *b, long sb, float *out, long n);
/// Copies a strided block: out (contiguous, shape dims[0..ndim)) from in with element strides.
void tk_strided_copy_f32(const float *in, const long *dims, const long *strides, int ndim, float *out);
/// Writes contiguous `in` into the strided block of out described by dims and strides (the inverse of
/// tk_strided_copy_f32); with accumulate != 0 it adds instead of storing.
void tk_strided_scatter_f32(const float *in, const long *dims, const long *strides, int ndim, float *out, int accumulate);
/// Sum of x[i] over n elements, in double precision.
double tk_sum_f32(const float *x, long n);
/// Sum of x[i]^2 over n elements, in double precision.
double tk_sumsq_f32(const float *x, long n);
/// float16 / bfloat16 bit patterns to float32.
void tk_f16_to_f32(const uint16_t *in, float *out, long n);
void tk_bf16_to_f32(const uint16_t *in, float *out, long n);
void tk_f32_to_f16(const float *in, uint16_t *out, long n);
void tk_f32_to_bf16(const float *in, uint16_t *out, long n);
/// Sets the OpenMP thread count used by oneDNN (found at run time; no-op if OpenMP is absent). Returns 1 if set.
int tk_set_omp_threads(int n);
int tk_get_omp_threads(void);
#endif
