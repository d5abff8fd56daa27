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

// ---- Optimizer updates (module Optimizers). Each runs with floating-point contraction off, so every ISA clone
// gives the same bits; the operation order follows PyTorch's single-tensor (CPU) implementations. ----

/// x[i] *= s (in place), e.g. the gradient scaling of torch.nn.utils.clip_grad_norm_.
void tk_scale_f32(float *x, float s, long n);
/// One step of PyTorch's SGD (torch/optim/sgd.py, _single_tensor_sgd) on n elements, in place:
///   d = g*grad_scale; if weight_decay != 0: d = d + weight_decay*p
///   if buf != NULL: buf = first_step ? d : buf*momentum + one_minus_dampening*d;  d = nesterov ? d + momentum*buf : buf
///   p = p + neg_lr*d
/// buf is NULL when momentum is 0. Scalars are the float32 roundings of PyTorch's Python doubles (neg_lr = -lr).
void tk_sgd_update(float *p, const float *g, float *buf, long n, float neg_lr, float weight_decay, float grad_scale,
                   float momentum, float one_minus_dampening, int nesterov, int first_step);
/// One step of PyTorch's Adam / AdamW (torch/optim/adam.py, _single_tensor_adam) on n elements, in place:
///   g' = g*grad_scale; decoupled ? p = p*decay (decay = 1 - lr*wd) : (if weight_decay != 0) g' = g' + weight_decay*p
///   m = lerp(m, g', lerp_weight) (lerp_weight = 1 - beta1, ATen's two-sided lerp formula)
///   v = v*beta2 + (one_minus_beta2*g')*g'
///   p = p + (neg_step_size*m) / (sqrt(v)/bias_correction2_sqrt + eps)   (neg_step_size = -lr/(1 - beta1^step))
void tk_adam_update(float *p, const float *g, float *m, float *v, long n, float grad_scale, float weight_decay,
                    int decoupled, float decay, float lerp_weight, float beta2, float one_minus_beta2,
                    float bias_correction2_sqrt, float eps, float neg_step_size);
/// Sum of x[i]^2 in double precision over 8 interleaved accumulators (lane j sums the i ≡ j mod 8), combined in a
/// fixed order: vectorisable, and the same bits on every ISA clone (the gradient norm of clip_grad_norm_).
double tk_sumsq_lanes_f32(const float *x, long n);
#endif
