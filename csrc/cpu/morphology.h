// Binary morphology of one frame with a flat k x k element and geodesic borders, on bit-packed rows (64 pixels per
// uint64 word, bit j of word i = column 64 i + j), shared by the CPU kernels.
//   horizontal_planes  binarise each row (SSE2 compare + movemask for uint8/bool/float32 where available), then
//                      OR (dilation) / AND (erosion) of the row shifted by 1..r; outside the frame counts as 0 for
//                      dilation and 1 for erosion, which is the geodesic border.
//   edge_interior_bits vertical OR/AND over the rows of the window clipped to the frame: edge = D ^ E and
//                      interior = E as bit rows (read directly, a nibble at a time, through kNibbleValues)...
//   edge_interior_row  ...or expanded to one byte (0/1) per pixel for the byte-wise epilogues.
// A 128-pixel row is two words, so the morphology costs a few dozen instructions per row.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../binarise.h"
#include "../checks.h"
#include "simd.h"

namespace gaitedge {
namespace cpu {

static_assert(kMaxKernelSize / 2 < 64, "horizontal shifts reach one word to each side");

inline int64_t words_per_row(int64_t W) { return (W + 63) / 64; }

// Bits of one binarised row; bits past the last column are 0.
template <typename sil_t>
inline void binarise_row(const sil_t* __restrict__ s, int64_t W, const Binariser<sil_t>& bin,
                         uint64_t* __restrict__ out) {
  const int64_t nw = words_per_row(W);
  int64_t x = 0;
#if GAITEDGE_SSE2
  if constexpr (std::is_same_v<sil_t, uint8_t> || std::is_same_v<sil_t, bool>) {
    // unsigned s > t as a signed compare after flipping the top bit; t = -1 keeps every pixel, 255 none
    const int32_t t = bin.t;
    if (t >= 0 && t <= 254) {
      const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
      const __m128i tv = _mm_set1_epi8(static_cast<char>(t ^ 0x80));
      for (; x + 64 <= W; x += 64) {
        uint64_t word = 0;
        for (int c = 0; c < 4; ++c) {
          const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + x + 16 * c));
          const uint32_t bits = _mm_movemask_epi8(_mm_cmpgt_epi8(_mm_xor_si128(v, flip), tv));
          word |= static_cast<uint64_t>(bits) << (16 * c);
        }
        out[x / 64] = word;
      }
    }
  } else if constexpr (std::is_same_v<sil_t, float>) {
    const __m128 tv = _mm_set1_ps(bin.t);
    for (; x + 64 <= W; x += 64) {
      uint64_t word = 0;
      for (int c = 0; c < 16; ++c) {
        const uint32_t bits = _mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(s + x + 4 * c), tv));
        word |= static_cast<uint64_t>(bits) << (4 * c);
      }
      out[x / 64] = word;
    }
  }
#endif
  for (int64_t w = x / 64; w < nw; ++w) {
    uint64_t word = 0;
    const int64_t end = W - 64 * w < 64 ? W - 64 * w : 64;
    for (int64_t j = 0; j < end; ++j) word |= static_cast<uint64_t>(bin(s[64 * w + j])) << j;
    out[w] = word;
  }
}

// hd/he [H, nw]: horizontal dilation/erosion of (sil > threshold) for rows [y_lo, y_hi) (all by default; the
// other rows are left as they were); m is an nw-word scratch row.
template <typename sil_t>
void horizontal_planes(const sil_t* __restrict__ s, int64_t H, int64_t W, int64_t r, const Binariser<sil_t>& bin,
                       uint64_t* __restrict__ m, uint64_t* __restrict__ hd, uint64_t* __restrict__ he,
                       int64_t y_lo = 0, int64_t y_hi = -1) {
  const int64_t nw = words_per_row(W);
  const uint64_t pad = (W % 64) ? (~uint64_t(0) << (W % 64)) : 0;  // bits past the last column: 1 for erosion
  if (y_hi < 0) y_hi = H;
  for (int64_t y = y_lo; y < y_hi; ++y) {
    binarise_row(s + y * W, W, bin, m);
    for (int64_t i = 0; i < nw; ++i) {
      const uint64_t c = m[i];
      const uint64_t ce = i == nw - 1 ? c | pad : c;
      const uint64_t l = i > 0 ? m[i - 1] : 0, le = i > 0 ? m[i - 1] : ~uint64_t(0);
      const uint64_t rr = i < nw - 1 ? m[i + 1] : 0;
      const uint64_t re = i < nw - 1 ? (i + 1 == nw - 1 ? m[i + 1] | pad : m[i + 1]) : ~uint64_t(0);
      uint64_t d = c, e = ce;
      for (int64_t k = 1; k <= r; ++k) {
        // bit x takes x - k (shift up, carry from the left word) and x + k (shift down, carry from the right)
        d |= (c << k) | (l >> (64 - k)) | (c >> k) | (rr << (64 - k));
        e &= ((ce << k) | (le >> (64 - k))) & ((ce >> k) | (re << (64 - k)));
      }
      hd[y * nw + i] = d;
      he[y * nw + i] = e;
    }
  }
}

// 8 bits -> 8 bytes of 0/1.
struct ByteLut {
  uint64_t v[256];
  constexpr ByteLut() : v() {
    for (int b = 0; b < 256; ++b) {
      uint64_t x = 0;
      for (int j = 0; j < 8; ++j) x |= static_cast<uint64_t>((b >> j) & 1) << (8 * j);
      v[b] = x;
    }
  }
};
inline constexpr ByteLut kByteLut{};

inline void expand_bits(const uint64_t* __restrict__ words, int64_t nw, uint8_t* __restrict__ bytes) {
  for (int64_t i = 0; i < nw; ++i) {
    for (int b = 0; b < 8; ++b) {
      const uint64_t eight = kByteLut.v[(words[i] >> (8 * b)) & 0xFF];
      std::memcpy(bytes + 64 * i + 8 * b, &eight, 8);
    }
  }
}

// Per-thread scratch for one frame's morphology. `edge` and `interior` rows hold nw * 64 bytes (>= W).
struct MorphScratch {
  uint64_t *hd, *he, *m, *d, *e;
  uint8_t *edge, *interior;
  static int64_t bytes(int64_t H, int64_t W) {
    const int64_t nw = words_per_row(W);
    return 8 * (2 * H * nw + 3 * nw) + 2 * 64 * nw;
  }
  MorphScratch(void* base, int64_t H, int64_t W) {
    const int64_t nw = words_per_row(W);
    hd = static_cast<uint64_t*>(base);
    he = hd + H * nw;
    m = he + H * nw;
    d = m + nw;
    e = d + nw;
    edge = reinterpret_cast<uint8_t*>(e + nw);
    interior = edge + 64 * nw;
  }
};

// MorphScratch with its own storage, one per thread.
struct FrameMorphology {
  std::vector<uint64_t> storage;
  MorphScratch ms;
  FrameMorphology(int64_t H, int64_t W)
      : storage(MorphScratch::bytes(H, W) / 8 + 1), ms(storage.data(), H, W) {}
};

// Row y's vertical pass: ms.d = edge band (D ^ E), ms.e = interior (E), as bits; bits past the last column are 0.
// The horizontal planes hold ones there (erosion's border padding, dilation's spill), and an edge bit past the
// frame would widen a row's span beyond the columns the caller computed: the backward would then read scratch
// left by the previous frame.
inline void edge_interior_bits(MorphScratch& ms, int64_t H, int64_t W, int64_t r, int64_t y) {
  const int64_t nw = words_per_row(W);
  const int64_t y0 = y - r < 0 ? 0 : y - r;
  const int64_t y1 = y + r > H - 1 ? H - 1 : y + r;
  for (int64_t i = 0; i < nw; ++i) {
    uint64_t d = 0, e = ~uint64_t(0);
    for (int64_t yy = y0; yy <= y1; ++yy) {
      d |= ms.hd[yy * nw + i];
      e &= ms.he[yy * nw + i];
    }
    ms.d[i] = d ^ e;
    ms.e[i] = e;
  }
  if (W % 64) {
    const uint64_t valid = ~(~uint64_t(0) << (W % 64));  // the last word's columns
    ms.d[nw - 1] &= valid;
    ms.e[nw - 1] &= valid;
  }
}

// Row y of the edge band (D ^ E) and interior (E) into ms.edge / ms.interior, one byte (0/1) per pixel.
inline void edge_interior_row(MorphScratch& ms, int64_t H, int64_t W, int64_t r, int64_t y) {
  edge_interior_bits(ms, H, W, r, y);
  const int64_t nw = words_per_row(W);
  expand_bits(ms.d, nw, ms.edge);
  expand_bits(ms.e, nw, ms.interior);
}

// Four pixels' mask bits as four 0/1 values of T: the epilogues that read a bit row directly multiply by these
// instead of widening a byte per pixel.
template <typename T>
struct NibbleValues {
  T v[16][4];
  constexpr NibbleValues() : v() {
    for (int n = 0; n < 16; ++n) {
      for (int k = 0; k < 4; ++k) v[n][k] = static_cast<T>((n >> k) & 1);
    }
  }
};
template <typename T>
inline constexpr NibbleValues<T> kNibbleValues{};

// Bits j .. j + 3 of a bit row, for j a multiple of 4 (so they never straddle two words).
inline unsigned nibble_at(const uint64_t* __restrict__ bits, int64_t j) {
  return static_cast<unsigned>(bits[j >> 6] >> (j & 63)) & 15u;
}
inline unsigned bit_at(const uint64_t* __restrict__ bits, int64_t j) {
  return static_cast<unsigned>(bits[j >> 6] >> (j & 63)) & 1u;
}

}  // namespace cpu
}  // namespace gaitedge
