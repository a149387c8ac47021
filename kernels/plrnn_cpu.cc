// The PLRNN's time loop, forward and backward, as two XLA FFI kernels for the CPU.
//
// Same equations and layout as rnnstab/cells/plrnn_loop.py (states (H, N), batch on the minor axis;
// W in the cell's kernel layout, (in, out)):
//
//   act_t     = z_t - mean_H(z_t)                       (mean-centred variant; else act_t = z_t)
//   z_{t+1}   = clip(A * z_t + W^T relu(act_t) + C^T x_t + h)
//
// Why a kernel outside XLA: at the rPLRNN paper's size (H = 40, N = 500) XLA:CPU runs each step as
// separate passes (the product, the state written into the saved stack, the operands built, the update)
// and zero-fills the (T, H, N) stack before the loop writes it. Here the forward step is one pass over
// 64-column blocks (relu of the block into L1, then a register-tiled product whose prologue adds
// A z + C^T x + h and whose epilogue clips), and the new state is streamed into the saved stack, which
// is never zero-filled. The backward step is one element-wise pass over the saved state (the clip's
// mask, A's gradient, the operand rows relu(act)), the weight gradients' product and the state
// gradient's product with the update in its epilogue; the weight gradients accumulate in 16-lane sums
// across the whole sequence (one horizontal sum at the end instead of one a step).
//
// Every (rows, N) array the loops touch, the saved stack included, is padded to Np = N rounded up to
// 16 floats, its pad columns zero, so every loop runs on whole 64-byte vectors; columns never mix (the
// mean-centring mixes rows), so the pads never reach the results.
//
// References:
//   Schmidt et al., "Identifying nonlinear dynamical systems with multiple time scales and long-range
//   dependencies", ICLR 2021 (the PLRNN step, its mean-centred variant, and the M = 40 setting).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kLanes = 16;
typedef float v16 __attribute__((vector_size(64)));
// The same vector at any float's alignment: XLA's buffers (the saved stack) need not be 64-byte aligned,
// and an unaligned load of aligned data costs nothing on the CPUs this runs on.
typedef float v16u __attribute__((vector_size(64), aligned(4)));

inline v16 splat(float s) { return v16{} + s; }
inline v16 load(const float* p) { return *reinterpret_cast<const v16u*>(p); }
inline void store(float* p, v16 v) { *reinterpret_cast<v16u*>(p) = v; }
inline v16 relu(v16 v) { return v > 0.0f ? v : v16{}; }

struct Free {
  void operator()(float* p) const { std::free(p); }
};
using Aligned = std::unique_ptr<float, Free>;

// A zeroed, 64-byte aligned scratch array (the pads must start at zero).
Aligned scratch(int64_t count) {
  int64_t bytes = ((std::max<int64_t>(count, 1) * 4 + 63) / 64) * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  std::memset(p, 0, bytes);
  return Aligned(p);
}

// rows x N (dense, from XLA) <-> rows x Np (padded, the pad columns zero).
void pad_rows(const float* src, int64_t rows, int64_t n, int64_t np, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * np, src + r * n, n * sizeof(float));
    std::memset(dst + r * np + n, 0, (np - n) * sizeof(float));
  }
}
void unpad_rows(const float* src, int64_t rows, int64_t n, int64_t np, float* dst) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * n, src + r * np, n * sizeof(float));
}

// The saved stack is written once by the forward and read back only by the backward pass, after the
// whole forward: its stores bypass the caches (non-temporal) where the CPU has them and it is aligned.
inline bool stream_aligned(const float* p) {
#ifdef __AVX512F__
  return reinterpret_cast<std::uintptr_t>(p) % 64 == 0;
#else
  (void)p;
  return false;
#endif
}

inline void stream_fence() {
#ifdef __AVX512F__
  _mm_sfence();  // streamed stores are weakly ordered: make them visible before the call returns
#endif
}

inline void stream_store(float* p, v16 v) {
#ifdef __AVX512F__
  _mm512_stream_ps(p, reinterpret_cast<__m512>(v));
#else
  store(p, v);
#endif
}

void stream_copy(const float* src, int64_t count, float* dst) {
  if (stream_aligned(dst) && count % kLanes == 0) {
    for (int64_t i = 0; i < count; i += kLanes) stream_store(dst + i, load(src + i));
    stream_fence();
    return;
  }
  std::memcpy(dst, src, count * sizeof(float));
}

// act = z - mean over rows (per column), in place; the pad columns stay zero.
void centre_columns(float* a, int64_t rows, int64_t np) {
  for (int64_t v = 0; v < np; v += kLanes) {
    v16 sum{};
    for (int64_t r = 0; r < rows; ++r) sum += load(a + r * np + v);
    v16 mean = sum * (1.0f / rows);
    for (int64_t r = 0; r < rows; ++r) store(a + r * np + v, load(a + r * np + v) - mean);
  }
}

// out rows a0..a0+TA, columns c0 .. c0 + 16 NV:  acc = prologue(a, c) + sum_k M[k, a] in[k, :];
// epilogue(a, c, acc). M is (K, Adim) row-major; `in` points at the block's first column, its rows
// `stride` apart. The TA x NV accumulators stay in registers.
template <int TA, int NV, typename Pro, typename Epi>
inline void tile(const float* M, int64_t Adim, int64_t K, const float* in, int64_t stride, int64_t a0, int64_t c0,
                 Pro& prologue, Epi& epilogue) {
  v16 acc[TA][NV];
  for (int a = 0; a < TA; ++a)
    for (int v = 0; v < NV; ++v) acc[a][v] = prologue(a0 + a, c0 + v * kLanes);
  for (int64_t k = 0; k < K; ++k) {
    v16 x[NV];
    for (int v = 0; v < NV; ++v) x[v] = load(in + k * stride + v * kLanes);
    for (int a = 0; a < TA; ++a) {
      v16 m = splat(M[k * Adim + a0 + a]);
      for (int v = 0; v < NV; ++v) acc[a][v] += m * x[v];
    }
  }
  for (int a = 0; a < TA; ++a)
    for (int v = 0; v < NV; ++v) epilogue(a0 + a, c0 + v * kLanes, acc[a][v]);
}

template <int TA, typename Pro, typename Epi>
inline void tile_rows(const float* M, int64_t Adim, int64_t K, const float* in, int64_t stride, int64_t a0, int64_t c0,
                      int64_t nv, Pro& pro, Epi& epi) {
  switch (nv) {
    case 4: tile<TA, 4>(M, Adim, K, in, stride, a0, c0, pro, epi); break;
    case 3: tile<TA, 3>(M, Adim, K, in, stride, a0, c0, pro, epi); break;
    case 2: tile<TA, 2>(M, Adim, K, in, stride, a0, c0, pro, epi); break;
    default: tile<TA, 1>(M, Adim, K, in, stride, a0, c0, pro, epi); break;
  }
}

// The output columns c0 .. c0 + 16 nv of out = M^T in, every row: the 4-row tiles pass over the same
// block of `in` (in L1), the last rows (Adim not a multiple of 4) in one narrower tile.
template <typename Pro, typename Epi>
inline void product_block(const float* M, int64_t Adim, int64_t K, const float* in, int64_t stride, int64_t c0,
                          int64_t nv, Pro& pro, Epi& epi) {
  int64_t a0 = 0;
  for (; a0 + 4 <= Adim; a0 += 4) tile_rows<4>(M, Adim, K, in, stride, a0, c0, nv, pro, epi);
  switch (Adim - a0) {
    case 3: tile_rows<3>(M, Adim, K, in, stride, a0, c0, nv, pro, epi); break;
    case 2: tile_rows<2>(M, Adim, K, in, stride, a0, c0, nv, pro, epi); break;
    case 1: tile_rows<1>(M, Adim, K, in, stride, a0, c0, nv, pro, epi); break;
  }
}

constexpr int64_t kBlock = 4 * kLanes;  // the columns a product tile covers

// out = M^T in over all (Adim, Np), column block by column block.
template <typename Pro, typename Epi>
void product(const float* M, int64_t Adim, int64_t K, const float* in, int64_t np, Pro&& pro, Epi&& epi) {
  for (int64_t c0 = 0; c0 < np; c0 += kBlock)
    product_block(M, Adim, K, in + c0, np, c0, std::min<int64_t>(kBlock, np - c0) / kLanes, pro, epi);
}

// acc[i, j, :] += sum over vectors of p[i, v] * q[j, v]: the lane-wise partial sums of P Q^T, over
// rows i0..i0+TI of P and j0..j0+TJ of Q. Summed across lanes once, after the time loop.
template <int TI, int TJ>
inline void gram_tile(const float* P, const float* Q, int64_t np, int64_t rows_q, int64_t i0, int64_t j0, float* acc) {
  v16 s[TI][TJ];
  for (int i = 0; i < TI; ++i)
    for (int j = 0; j < TJ; ++j) s[i][j] = load(acc + ((i0 + i) * rows_q + j0 + j) * kLanes);
  for (int64_t v = 0; v < np; v += kLanes) {
    v16 p[TI], q[TJ];
    for (int i = 0; i < TI; ++i) p[i] = load(P + (i0 + i) * np + v);
    for (int j = 0; j < TJ; ++j) q[j] = load(Q + (j0 + j) * np + v);
    for (int i = 0; i < TI; ++i)
      for (int j = 0; j < TJ; ++j) s[i][j] += p[i] * q[j];
  }
  for (int i = 0; i < TI; ++i)
    for (int j = 0; j < TJ; ++j) store(acc + ((i0 + i) * rows_q + j0 + j) * kLanes, s[i][j]);
}

template <int TI>
inline void gram_row(const float* P, const float* Q, int64_t np, int64_t rows_q, int64_t i0, float* acc) {
  int64_t j0 = 0;
  for (; j0 + 4 <= rows_q; j0 += 4) gram_tile<TI, 4>(P, Q, np, rows_q, i0, j0, acc);
  for (; j0 < rows_q; ++j0) gram_tile<TI, 1>(P, Q, np, rows_q, i0, j0, acc);
}

// Lane-wise partial sums of P Q^T, P (rows_p, Np), Q (rows_q, Np), acc (rows_p, rows_q, 16).
void gram(const float* P, int64_t rows_p, const float* Q, int64_t rows_q, int64_t np, float* acc) {
  int64_t i0 = 0;
  for (; i0 + 4 <= rows_p; i0 += 4) gram_row<4>(P, Q, np, rows_q, i0, acc);
  for (; i0 < rows_p; ++i0) gram_row<1>(P, Q, np, rows_q, i0, acc);
}

float lane_sum(const float* lanes) {
  v16 v = load(lanes);
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += v[l];
  return s;
}

struct Sizes {
  int64_t T, H, D, N, Np, slot;
};

// The saved stack's slot of one step: H padded rows and one vector more, so that a state and the next
// (read and written in the same pass) are not a multiple of 4 KiB apart, where the CPU would take a load
// from one for a reload of a pending store to the other (4K aliasing).
inline int64_t slot_size(int64_t H, int64_t np) { return H * np + kLanes; }

ffi::Error check_sizes(ffi::AnyBuffer A, ffi::AnyBuffer W, ffi::AnyBuffer C, ffi::AnyBuffer h, ffi::AnyBuffer z0,
                       ffi::AnyBuffer x, Sizes* s) {
  auto xd = x.dimensions(), zd = z0.dimensions(), cd = C.dimensions(), wd = W.dimensions();
  if (xd.size() != 3 || zd.size() != 2 || cd.size() != 2 || wd.size() != 2)
    return ffi::Error::InvalidArgument("plrnn_cpu: expected x (T, D, N), z0 (H, N), C (D, H), W (H, H)");
  s->T = xd[0], s->D = xd[1], s->N = xd[2], s->H = zd[0];
  s->Np = ((s->N + kLanes - 1) / kLanes) * kLanes;
  s->slot = slot_size(s->H, s->Np);
  if (zd[1] != s->N || cd[0] != s->D || cd[1] != s->H || wd[0] != s->H || wd[1] != s->H ||
      A.element_count() != (size_t)s->H || h.element_count() != (size_t)s->H)
    return ffi::Error::InvalidArgument("plrnn_cpu: inconsistent shapes of A, W, C, h, z0 and x");
  for (auto b : {A, W, C, h, z0, x})
    if (b.element_type() != ffi::DataType::F32) return ffi::Error::InvalidArgument("plrnn_cpu: float32 only");
  return ffi::Error::Success();
}

// Keeps the columns below n of the vector at column c: the pad columns of the last vector become zero.
inline v16 keep_columns(v16 acc, int64_t c, int64_t n, const v16& tail_keep) {
  return c + kLanes <= n ? acc : (tail_keep != 0.0f ? acc : v16{});
}

v16 tail_keep_mask(int64_t n, int64_t np) {
  v16 keep{};
  for (int l = 0; l < kLanes; ++l) keep[l] = (np - kLanes + l) < n ? 1.0f : 0.0f;
  return keep;
}

// Forward. The saved stack (T, H, Np) is padded, so that the loop writes each state straight into it
// and the backward reads it in place: every step's previous state z_t (last = true; the backward's
// residual) or every step's new state z_{t+1} (last = false; the caller slices off the pads). final
// (H, N) is z_T.
ffi::Error Forward(ffi::AnyBuffer A_, ffi::AnyBuffer W_, ffi::AnyBuffer C_, ffi::AnyBuffer h_, ffi::AnyBuffer z0_,
                   ffi::AnyBuffer x_, float clip, bool mean_centre, bool last, ffi::Result<ffi::AnyBuffer> stack_,
                   ffi::Result<ffi::AnyBuffer> final_) {
  Sizes s;
  if (auto err = check_sizes(A_, W_, C_, h_, z0_, x_, &s); err.failure()) return err;
  const int64_t T = s.T, H = s.H, D = s.D, N = s.N, Np = s.Np;
  if (stack_->element_count() != (size_t)(T * s.slot))
    return ffi::Error::InvalidArgument("plrnn_cpu: the saved stack must be (T, H, N rounded up to 16)");
  const float *A = A_.typed_data<float>(), *W = W_.typed_data<float>(), *C = C_.typed_data<float>(),
              *h = h_.typed_data<float>(), *x = x_.typed_data<float>();
  float* stack = stack_->typed_data<float>();

  Aligned head_buf = scratch(H * Np), tail_buf = scratch(H * Np), r_buf = scratch(H * kBlock),
          x_buf = scratch(D * Np), mean_buf = scratch(kBlock);
  float *r = r_buf.get(), *xb = x_buf.get(), *mean = mean_buf.get();
  const v16 tail_keep = tail_keep_mask(N, Np);
  // The states live in two L2-resident scratch arrays; each new one is then streamed into the stack
  // (stores straight into an 8 MB stack stalled the products on reading every line in before writing it).
  float *cur = head_buf.get(), *nxt = tail_buf.get();
  pad_rows(z0_.typed_data<float>(), H, N, Np, cur);
  if (last && T > 0) stream_copy(cur, H * Np, stack);

  for (int64_t t = 0; t < T; ++t) {
    pad_rows(x + t * D * N, D, N, Np, xb);
    // Where the new state is saved (none for z_T when the stack holds previous states): by the
    // epilogue's streaming stores where the stack is 64-byte aligned, else copied after the step.
    float* slot = last ? (t + 1 < T ? stack + (t + 1) * s.slot : nullptr) : stack + t * s.slot;
    float* out = slot && stream_aligned(slot) ? slot : nullptr;
    float* out_unaligned = slot && !out ? slot : nullptr;
    auto prologue = [&](int64_t j, int64_t c) {
      v16 acc = splat(A[j]) * load(cur + j * Np + c) + h[j];
      for (int64_t d = 0; d < D; ++d) acc += splat(C[d * H + j]) * load(xb + d * Np + c);
      return acc;
    };
    auto epilogue = [&](int64_t j, int64_t c, v16 acc) {
      if (clip > 0) acc = acc > clip ? splat(clip) : (acc < -clip ? splat(-clip) : acc);
      acc = keep_columns(acc, c, N, tail_keep);
      store(nxt + j * Np + c, acc);
      if (out) stream_store(out + j * Np + c, acc);
    };
    for (int64_t c0 = 0; c0 < Np; c0 += kBlock) {
      const int64_t nv = std::min<int64_t>(kBlock, Np - c0) / kLanes;
      // relu(act) of this block of columns, into L1.
      if (mean_centre) {
        for (int64_t v = 0; v < nv; ++v) {
          v16 sum{};
          for (int64_t k = 0; k < H; ++k) sum += load(cur + k * Np + c0 + v * kLanes);
          store(mean + v * kLanes, sum * (1.0f / H));
        }
      }
      for (int64_t k = 0; k < H; ++k)
        for (int64_t v = 0; v < nv; ++v) {
          v16 a = load(cur + k * Np + c0 + v * kLanes);
          if (mean_centre) a -= load(mean + v * kLanes);
          store(r + k * kBlock + v * kLanes, relu(a));
        }
      product_block(W, H, H, r, kBlock, c0, nv, prologue, epilogue);
    }
    std::swap(cur, nxt);
    if (out_unaligned) stream_copy(cur, H * Np, out_unaligned);
  }
  stream_fence();
  unpad_rows(cur, H, N, Np, final_->typed_data<float>());
  return ffi::Error::Success();
}

// Backward: the cotangents of final (H, N) and, when last = false, of every step's output (T, H, N)
// -> the gradients of A, W, C, h, z0 and x.
ffi::Error Backward(ffi::AnyBuffer A_, ffi::AnyBuffer W_, ffi::AnyBuffer C_, ffi::AnyBuffer h_, ffi::AnyBuffer z0_,
                    ffi::AnyBuffer x_, ffi::AnyBuffer stack_, ffi::AnyBuffer final_, ffi::AnyBuffer g_final_,
                    ffi::AnyBuffer g_steps_, float clip, bool mean_centre, bool last,
                    ffi::Result<ffi::AnyBuffer> dA_, ffi::Result<ffi::AnyBuffer> dW_, ffi::Result<ffi::AnyBuffer> dC_,
                    ffi::Result<ffi::AnyBuffer> dh_, ffi::Result<ffi::AnyBuffer> dz0_,
                    ffi::Result<ffi::AnyBuffer> dx_) {
  Sizes s;
  if (auto err = check_sizes(A_, W_, C_, h_, z0_, x_, &s); err.failure()) return err;
  const int64_t T = s.T, H = s.H, D = s.D, N = s.N, Np = s.Np;
  if (stack_.element_count() != (size_t)(T * s.slot) || final_.element_count() != (size_t)(H * N) ||
      g_final_.element_count() != (size_t)(H * N) || (!last && g_steps_.element_count() != (size_t)(T * H * N)))
    return ffi::Error::InvalidArgument("plrnn_cpu: inconsistent shapes of the saved states and cotangents");
  const float *A = A_.typed_data<float>(), *W = W_.typed_data<float>(), *C = C_.typed_data<float>(),
              *x = x_.typed_data<float>(), *stack = stack_.typed_data<float>(),
              *g_steps = g_steps_.typed_data<float>();
  float* dx = dx_->typed_data<float>();

  // W^T and C^T as the (K, Adim) operands of `product`: dact = W dz, dx = C dz.
  Aligned WT_buf = scratch(H * H), CT_buf = scratch(H * D);
  float *WT = WT_buf.get(), *CT = CT_buf.get();
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < H; ++j) WT[j * H + i] = W[i * H + j];
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < H; ++j) CT[j * D + d] = C[d * H + j];

  Aligned dz_buf = scratch(H * Np), dn_buf = scratch(H * Np), final_buf = scratch(H * Np), z0_buf = scratch(H * Np),
          g_buf = scratch(H * Np), mean_buf = scratch(Np), dxb_buf = scratch(D * Np);
  float *dz = dz_buf.get(), *dn = dn_buf.get(), *mean = mean_buf.get(), *dxb = dxb_buf.get(), *g = g_buf.get();
  pad_rows(final_.typed_data<float>(), H, N, Np, final_buf.get());
  pad_rows(z0_.typed_data<float>(), H, N, Np, z0_buf.get());
  // The rows [relu(act); x; 1] of the weight gradients' product with dz^T (one pass: dW, dC and dh), and
  // their lane-wise partial sums over the whole sequence, summed across lanes once at the end.
  Aligned ops_buf = scratch((H + D + 1) * Np), gram_buf = scratch((H + D + 1) * H * kLanes),
          dA_buf = scratch(H * kLanes);
  float *ops = ops_buf.get(), *gram_acc = gram_buf.get(), *dA_acc = dA_buf.get();
  for (int64_t n = 0; n < N; ++n) ops[(H + D) * Np + n] = 1.0f;

  pad_rows(g_final_.typed_data<float>(), H, N, Np, dz);
  // The state after the step, whose clip masks the step's gradient: z_T first, then the step's own input.
  const float* znext = last ? final_buf.get() : nullptr;
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* z = last ? stack + t * s.slot : (t == 0 ? z0_buf.get() : stack + (t - 1) * s.slot);
    if (!last) {
      znext = stack + t * s.slot;
      pad_rows(g_steps + t * H * N, H, N, Np, g);
    }
    if (mean_centre) {
      for (int64_t c = 0; c < Np; c += kLanes) {
        v16 sum{};
        for (int64_t k = 0; k < H; ++k) sum += load(z + k * Np + c);
        store(mean + c, sum * (1.0f / H));
      }
    }
    // One pass over the saved state: the carried cotangent plus this step's own, the clip's mask, A's
    // gradient, and the operand rows relu(act).
    for (int64_t j = 0; j < H; ++j) {
      v16 da = load(dA_acc + j * kLanes);
      for (int64_t c = 0; c < Np; c += kLanes) {
        v16 d = load(dz + j * Np + c);
        if (!last) d += load(g + j * Np + c);
        if (clip > 0) {
          v16 zn = load(znext + j * Np + c);
          d = zn < clip ? (zn > -clip ? d : v16{}) : v16{};
        }
        store(dz + j * Np + c, d);
        v16 zj = load(z + j * Np + c);
        da += zj * d;
        if (mean_centre) zj -= load(mean + c);
        store(ops + j * Np + c, relu(zj));
      }
      store(dA_acc + j * kLanes, da);
    }
    pad_rows(x + t * D * N, D, N, Np, ops + H * Np);
    gram(ops, H + D + 1, dz, H, Np, gram_acc);

    auto zero = [](int64_t, int64_t) { return v16{}; };
    auto to_dx = [&](int64_t d, int64_t c, v16 acc) { store(dxb + d * Np + c, acc); };
    product(CT, D, H, dz, Np, zero, to_dx);
    unpad_rows(dxb, D, N, Np, dx + t * D * N);

    // dn = A * dz + [act > 0] (W dz), the second term centred over rows in the mean-centred variant.
    // relu(act) > 0 exactly where act > 0, so the mask reads the operand rows.
    auto masked = [&](int64_t i, int64_t c, v16 acc) {
      v16 dact = load(ops + i * Np + c) > 0.0f ? acc : v16{};
      store(dn + i * Np + c, mean_centre ? dact : dact + splat(A[i]) * load(dz + i * Np + c));
    };
    product(WT, H, H, dz, Np, zero, masked);
    if (mean_centre) {
      centre_columns(dn, H, Np);
      for (int64_t i = 0; i < H; ++i)
        for (int64_t c = 0; c < Np; c += kLanes)
          store(dn + i * Np + c, load(dn + i * Np + c) + splat(A[i]) * load(dz + i * Np + c));
    }
    std::swap(dz, dn);
    znext = z;
  }

  unpad_rows(dz, H, N, Np, dz0_->typed_data<float>());
  float *dA = dA_->typed_data<float>(), *dW = dW_->typed_data<float>(), *dC = dC_->typed_data<float>(),
        *dh = dh_->typed_data<float>();
  for (int64_t j = 0; j < H; ++j) dA[j] = lane_sum(dA_acc + j * kLanes);
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < H; ++j) dW[i * H + j] = lane_sum(gram_acc + (i * H + j) * kLanes);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < H; ++j) dC[d * H + j] = lane_sum(gram_acc + ((H + d) * H + j) * kLanes);
  for (int64_t j = 0; j < H; ++j) dh[j] = lane_sum(gram_acc + ((H + D) * H + j) * kLanes);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnstabPlrnnForward, Forward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()  // A (H,)
                                  .Arg<ffi::AnyBuffer>()  // W (H, H), (in, out)
                                  .Arg<ffi::AnyBuffer>()  // C (D, H)
                                  .Arg<ffi::AnyBuffer>()  // h (H,)
                                  .Arg<ffi::AnyBuffer>()  // z0 (H, N)
                                  .Arg<ffi::AnyBuffer>()  // x (T, D, N)
                                  .Attr<float>("clip")
                                  .Attr<bool>("mean_centre")
                                  .Attr<bool>("last")
                                  .Ret<ffi::AnyBuffer>()   // stack (T, H, N)
                                  .Ret<ffi::AnyBuffer>());  // final (H, N)

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnstabPlrnnBackward, Backward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()  // A
                                  .Arg<ffi::AnyBuffer>()  // W
                                  .Arg<ffi::AnyBuffer>()  // C
                                  .Arg<ffi::AnyBuffer>()  // h
                                  .Arg<ffi::AnyBuffer>()  // z0
                                  .Arg<ffi::AnyBuffer>()  // x
                                  .Arg<ffi::AnyBuffer>()  // stack
                                  .Arg<ffi::AnyBuffer>()  // final
                                  .Arg<ffi::AnyBuffer>()  // cotangent of final
                                  .Arg<ffi::AnyBuffer>()  // cotangents of the steps (T, H, N), or (0,) when last
                                  .Attr<float>("clip")
                                  .Attr<bool>("mean_centre")
                                  .Attr<bool>("last")
                                  .Ret<ffi::AnyBuffer>()   // dA
                                  .Ret<ffi::AnyBuffer>()   // dW
                                  .Ret<ffi::AnyBuffer>()   // dC
                                  .Ret<ffi::AnyBuffer>()   // dh
                                  .Ret<ffi::AnyBuffer>()   // dz0
                                  .Ret<ffi::AnyBuffer>());  // dx
