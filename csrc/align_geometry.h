// GaitAlign geometry shared by the CPU and CUDA kernels (host/device code):
//   1. the per-frame box from the mask's row/column sums and the width/height ratio, in two modes;
//   2. the separable RoIAlign weights: with adaptive sampling, RoIAlign over one box is out = Ay . X . Ax^T, where
//      Ay [out_h, in_h] and Ax [out_w, in_w] are banded. Each output index o keeps a band start[o] and B weights
//      (the input indices start[o] .. start[o] + B - 1), already divided by the axis's sample count, so
//      out[ph, pw] = sum_a sum_b Ay[ph][a] * Ax[pw][b] * X[sy[ph] + a, sx[pw] + b]
//      and the backward grad_X = Ay^T . G . Ax is a gather over the same bands (no atomics).
//
// Modes:
//   kOpenGait  OpenGait's GaitAlign: eps row test, median column, W//2 virtual zero columns per side, p2 padding
//              from the ratio, x clamped to [0, w + 2 pad], RoIAlign aligned=False with torchvision's sampling
//              and bounds rule. Boxes are reported in input pixel coordinates (the padded x minus pad).
//   kExact     binarised mask (> 0.5), tight rows [top, bot), continuous median column, the horizontal extent chosen
//              so the person keeps its true aspect ratio (no clamping: outside the frame is zero), pixel-centre
//              sampling (aligned=True) with zero padding. An empty mask gives a zero box and an all-zero output.
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>

#if defined(__CUDA_ARCH__)  // device pass: round-to-nearest intrinsics, never contracted into FMAs
#define GAITEDGE_MUL(a, b) __fmul_rn((a), (b))
#define GAITEDGE_ADD(a, b) __fadd_rn((a), (b))
#define GAITEDGE_SUB(a, b) __fsub_rn((a), (b))
#define GAITEDGE_DIV(a, b) __fdiv_rn((a), (b))
#else
#define GAITEDGE_MUL(a, b) ((a) * (b))
#define GAITEDGE_ADD(a, b) ((a) + (b))
#define GAITEDGE_SUB(a, b) ((a) - (b))
#define GAITEDGE_DIV(a, b) ((a) / (b))
#endif

namespace gaitedge {

enum class AlignMode : int { kOpenGait = 0, kExact = 1 };

struct AlignParams {
  int in_h, in_w;    // input frame
  int out_h, out_w;  // output size (H, W)
  int pad;           // OpenGait's virtual zero columns per side (out_w / 2); 0 in exact mode
  float eps;         // OpenGait's row test: a row belongs to the person when its sum >= eps
  AlignMode mode;
};

// ---- boxes ---------------------------------------------------------------------------------------------------------

// OpenGait's arithmetic, in float32 without FMA contraction so that host and device agree bit for bit.
C10_HOST_DEVICE inline void opengait_box(int h_top, int h_bot, int w_center, float r, const AlignParams& p,
                                         float* box) {
  const float H = static_cast<float>(p.out_h), W = static_cast<float>(p.out_w);
  float p1 = GAITEDGE_DIV(GAITEDGE_SUB(W, GAITEDGE_MUL(H, r)), 2.0f);
  p1 = p1 < 0.0f ? 0.0f : p1;
  const float t_w = GAITEDGE_DIV(GAITEDGE_MUL(r, H), static_cast<float>(p.in_w));
  const float p2 = GAITEDGE_DIV(p1, t_w);
  const float height = static_cast<float>(h_bot - h_top);
  const float width = GAITEDGE_DIV(GAITEDGE_MUL(height, static_cast<float>(p.in_w)), static_cast<float>(p.in_h));
  const float center = static_cast<float>(w_center + p.pad);
  const float half = GAITEDGE_ADD(GAITEDGE_DIV(width, 2.0f), p2);
  const float limit = static_cast<float>(p.in_w + 2 * p.pad);
  float x1 = GAITEDGE_SUB(center, half), x2 = GAITEDGE_ADD(center, half);
  x1 = x1 < 0.0f ? 0.0f : (x1 > limit ? limit : x1);
  x2 = x2 < 0.0f ? 0.0f : (x2 > limit ? limit : x2);
  box[0] = GAITEDGE_SUB(x1, static_cast<float>(p.pad));
  box[1] = static_cast<float>(h_top);
  box[2] = GAITEDGE_SUB(x2, static_cast<float>(p.pad));
  box[3] = static_cast<float>(h_bot);
}

// Aspect-true box: output rows span [top, bot); one input column is r * in_h / in_w input rows wide in the original
// image, so the out_w-wide window covers out_w / (s_y * r * in_h / in_w) input columns around the centre.
C10_HOST_DEVICE inline void exact_box(int top, int bot, float x_c, float r, const AlignParams& p, float* box) {
  if (bot <= top) {
    box[0] = box[1] = box[2] = box[3] = 0.0f;
    return;
  }
  const float s_y = GAITEDGE_DIV(static_cast<float>(p.out_h), static_cast<float>(bot - top));
  const float s_x = GAITEDGE_DIV(GAITEDGE_MUL(GAITEDGE_MUL(s_y, r), static_cast<float>(p.in_h)),
                                 static_cast<float>(p.in_w));
  const float half = GAITEDGE_DIV(static_cast<float>(p.out_w), GAITEDGE_MUL(2.0f, s_x));
  box[0] = GAITEDGE_SUB(x_c, half);
  box[1] = static_cast<float>(top);
  box[2] = GAITEDGE_ADD(x_c, half);
  box[3] = static_cast<float>(bot);
}

// The box from per-row and per-column sums of the mask (raw values in OpenGait mode, the binarised mask in exact
// mode), as a single thread computes it.
C10_HOST_DEVICE inline void box_from_sums(const double* row_sum, const double* col_sum, float r,
                                          const AlignParams& p, float* box) {
  if (p.mode == AlignMode::kOpenGait) {
    // h_top: rows before the first row with sum >= eps; h_bot: index of the last such row + 1 (1 when none).
    int h_top = p.in_h, last = -1;
    for (int y = 0; y < p.in_h; ++y) {
      if (row_sum[y] >= static_cast<double>(p.eps)) {
        if (h_top == p.in_h) h_top = y;
        last = y;
      }
    }
    const int h_bot = last < 0 ? 1 : last + 1;
    double total = 0.0;
    for (int x = 0; x < p.in_w; ++x) total += col_sum[x];
    // median column: the number of columns whose cumulative mass is below half the total
    int w_center = 0;
    double cum = 0.0;
    for (int x = 0; x < p.in_w; ++x) {
      cum += col_sum[x];
      if (cum < total / 2.0) ++w_center;
    }
    opengait_box(h_top, h_bot, w_center, r, p, box);
  } else {
    int top = -1, bot = 0;
    for (int y = 0; y < p.in_h; ++y) {
      if (row_sum[y] > 0.0) {
        if (top < 0) top = y;
        bot = y + 1;
      }
    }
    double total = 0.0;
    for (int x = 0; x < p.in_w; ++x) total += col_sum[x];
    float x_c = 0.0f;
    if (total > 0.0) {
      // continuous median: where the cumulative mass crosses half, interpolated inside that column
      const double half = total / 2.0;
      double cum = 0.0;
      for (int x = 0; x < p.in_w; ++x) {
        if (cum + col_sum[x] >= half && col_sum[x] > 0.0) {
          x_c = static_cast<float>(x + (half - cum) / col_sum[x]);
          break;
        }
        cum += col_sum[x];
      }
    }
    exact_box(top < 0 ? 0 : top, top < 0 ? 0 : bot, x_c, r, p, box);
  }
}

// ---- separable sampling weights ------------------------------------------------------------------------------------

// The most samples per output index: boxes wider than kMaxGrid output bins get this many (the adaptive rule would ask
// for more); far beyond any real box, it keeps the count an int.
constexpr float kMaxGrid = 1073741824.0f;  // 2^30

// Samples per output index along one axis (torchvision's adaptive rule), and the band width it needs.
struct AxisGrid {
  float start;  // first sampled coordinate's box edge, in sampling coordinates
  float bin;    // bin size
  int grid;     // samples per output index
  int band;     // B: input indices per output index (grid + 2, at most the axis length)
  bool empty;   // exact mode, zero-size box: every weight is 0
};

C10_HOST_DEVICE inline AxisGrid axis_grid(float lo, float hi, int n_in, int n_out, int pad, AlignMode mode) {
  AxisGrid g;
  float roi = GAITEDGE_SUB(hi, lo);
  g.empty = false;
  if (mode == AlignMode::kOpenGait) {
    roi = roi > 1.0f ? roi : 1.0f;  // aligned=False forces malformed boxes to 1 x 1
    g.start = GAITEDGE_ADD(lo, static_cast<float>(pad));
  } else {
    g.empty = !(roi > 0.0f);
    g.start = lo;
  }
  g.bin = GAITEDGE_DIV(roi, static_cast<float>(n_out));
  const float gf = ceilf(GAITEDGE_DIV(roi, static_cast<float>(n_out)));
  // A box can be far wider than the frame (exact mode, a tiny ratio): the sample count is capped below int overflow
  // (and below NaN/inf, which compare false), and axis_band visits only the samples that reach the frame.
  g.grid = g.empty ? 1 : (gf >= 1.0f ? (gf < kMaxGrid ? static_cast<int>(gf) : static_cast<int>(kMaxGrid)) : 1);
  const int band = g.grid + 2;
  g.band = band < n_in ? band : n_in;
  return g;
}

// One sample's two taps: input indices (may fall outside [0, n_in)) and weights, or none when out of bounds.
C10_HOST_DEVICE inline int sample_taps(float s, int n_in, int pad, AlignMode mode, int* idx, float* w) {
  if (mode == AlignMode::kOpenGait) {
    // torchvision's rule, on the axis padded by `pad` zero entries per side
    const int n = n_in + 2 * pad;
    if (!(s >= -1.0f && s <= static_cast<float>(n))) return 0;  // torchvision's bounds rule; NaN has no taps either
    if (s <= 0.0f) s = 0.0f;
    int lo = static_cast<int>(s), hi;
    if (lo >= n - 1) {
      hi = lo = n - 1;
      s = static_cast<float>(lo);
    } else {
      hi = lo + 1;
    }
    const float l = GAITEDGE_SUB(s, static_cast<float>(lo));
    idx[0] = lo - pad;
    idx[1] = hi - pad;
    w[0] = GAITEDGE_SUB(1.0f, l);
    w[1] = l;
    return 2;
  }
  // pixel-centre sampling with zeros outside the frame; a sample with no tap inside it (or NaN) has none at all, so
  // the float -> int conversions below only ever see small values (out of range they are undefined, and host and
  // device would disagree)
  const float u = GAITEDGE_SUB(s, 0.5f);
  if (!(u > -1.0f && u < static_cast<float>(n_in))) return 0;
  const float f = floorf(u);
  idx[0] = static_cast<int>(f);
  idx[1] = idx[0] + 1;
  w[1] = GAITEDGE_SUB(u, f);
  w[0] = GAITEDGE_SUB(1.0f, w[1]);
  return 2;
}

// Offset of sample i inside its bin; the same for every output index, so a caller may compute it once per axis.
C10_HOST_DEVICE inline float sample_step(const AxisGrid& g, int i) {
  return GAITEDGE_DIV(GAITEDGE_MUL(static_cast<float>(i) + 0.5f, g.bin), static_cast<float>(g.grid));
}

// Sample i of output index o (step = sample_step(g, i)).
C10_HOST_DEVICE inline float sample_coord(const AxisGrid& g, int o, float step) {
  return GAITEDGE_ADD(GAITEDGE_ADD(g.start, GAITEDGE_MUL(static_cast<float>(o), g.bin)), step);
}

// Above this many samples per output index, axis_band skips the ones that cannot reach the frame.
constexpr int kSearchGrid = 64;

// v - v is 0 for every finite v and NaN for inf and NaN (no isfinite: the same code on host and device).
template <typename T>
C10_HOST_DEVICE inline bool finite(T v) {
  return v - v == T(0);
}

// The first i in [lo, hi) where pred(i) holds, for a pred that is false and then true along i; hi when it never
// holds.
template <typename Pred>
C10_HOST_DEVICE inline int first_true(int lo, int hi, const Pred& pred) {
  while (lo < hi) {
    const int m = lo + (hi - lo) / 2;
    if (pred(m)) hi = m; else lo = m + 1;
  }
  return lo;
}

// The samples [i0, i1) of output index o whose coordinates lie in [pad - 1.5, pad + n_in + 1.5]. No other sample
// has a tap inside the frame (OpenGait: s in [pad - 1, pad + n_in + 1); exact: s in [-0.5, n_in + 0.5)), so skipping
// them changes no weight. Sample coordinates never decrease with i (each rounding step is monotone), so two binary
// searches over the float coordinates themselves find the range exactly. Non-finite coordinates reach nothing.
C10_HOST_DEVICE inline void reachable_samples(const AxisGrid& g, int o, int n_in, int pad, const float* steps,
                                              int& i0, int& i1) {
  const float lo = static_cast<float>(pad) - 1.5f, hi = static_cast<float>(pad + n_in) + 1.5f;
  const auto coord = [&](int i) { return sample_coord(g, o, steps ? steps[i] : sample_step(g, i)); };
  if (!finite(coord(0)) || !finite(coord(g.grid - 1))) {  // inf/NaN box
    i0 = i1 = 0;
    return;
  }
  i0 = first_true(0, g.grid, [&](int i) { return coord(i) >= lo; });
  i1 = first_true(i0, g.grid, [&](int i) { return coord(i) > hi; });
}

// Band of output index o: start index (clipped to [0, n_in - 1], non-decreasing in o) and g.band weights.
// steps: sample_step(g, i) for i < g.grid, precomputed by the caller, or nullptr to compute them here (the values,
// and so the weights, are the same bit for bit either way).
C10_HOST_DEVICE inline int axis_band(const AxisGrid& g, int o, int n_in, int pad, AlignMode mode, float* w,
                                     const float* steps = nullptr) {
  for (int b = 0; b < g.band; ++b) w[b] = 0.0f;
  // the first sample's (clamped) low index fixes the band start
  float s0 = sample_coord(g, o, steps ? steps[0] : sample_step(g, 0));
  int start;
  // Clamped in float before the conversion to int, which is undefined out of range (a tiny exact-mode ratio puts s0
  // far outside the frame; host and device would then disagree and the starts would stop being non-decreasing).
  // NaN goes to 0.
  if (mode == AlignMode::kOpenGait) {
    const int n = n_in + 2 * pad;
    const float c = s0 > 0.0f ? s0 : 0.0f;
    start = (c < static_cast<float>(n - 1) ? static_cast<int>(c) : n - 1) - pad;
  } else {
    const float f = floorf(GAITEDGE_SUB(s0, 0.5f));
    start = f > 0.0f ? (f < static_cast<float>(n_in - 1) ? static_cast<int>(f) : n_in - 1) : 0;
  }
  start = start < 0 ? 0 : (start > n_in - 1 ? n_in - 1 : start);
  if (g.empty) return start;
  const float inv = 1.0f / static_cast<float>(g.grid);
  int i0 = 0, i1 = g.grid;
  if (g.grid > kSearchGrid) reachable_samples(g, o, n_in, pad, steps, i0, i1);
  for (int i = i0; i < i1; ++i) {
    int idx[2];
    float tw[2];
    const int k = sample_taps(sample_coord(g, o, steps ? steps[i] : sample_step(g, i)), n_in, pad, mode, idx, tw);
    for (int t = 0; t < k; ++t) {
      const int b = idx[t] - start;
      if (idx[t] >= 0 && idx[t] < n_in && b >= 0 && b < g.band) w[b] = GAITEDGE_ADD(w[b], GAITEDGE_MUL(tw[t], inv));
    }
  }
  return start;
}

}  // namespace gaitedge
