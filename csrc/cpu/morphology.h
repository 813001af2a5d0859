// Binary morphology of one frame with a flat k x k element and geodesic borders, on byte planes (0/1), shared by
// the CPU kernels. Separable: a horizontal pass per row (binarise + OR/AND over the row window clipped to the
// frame), then a vertical pass per output row (OR/AND over the clipped row window). Every loop runs over contiguous
// bytes without branches, so the compiler vectorises it.
#pragma once

#include <cstdint>
#include <cstring>

#include "../binarise.h"

namespace gaitedge {
namespace cpu {

// hd/he [H, W]: horizontal dilation/erosion of (sil > threshold); m is a W-byte scratch row.
template <typename sil_t>
void horizontal_planes(const sil_t* s, int64_t H, int64_t W, int64_t r, const Binariser<sil_t>& bin, uint8_t* m,
                       uint8_t* hd, uint8_t* he) {
  for (int64_t y = 0; y < H; ++y) {
    const sil_t* srow = s + y * W;
    for (int64_t i = 0; i < W; ++i) m[i] = bin(srow[i]);
    uint8_t* hdr = hd + y * W;
    uint8_t* her = he + y * W;
    std::memcpy(hdr, m, W);
    std::memcpy(her, m, W);
    for (int64_t d = 1; d <= r && d < W; ++d) {
      for (int64_t x = 0; x < W - d; ++x) {  // right neighbour x + d
        hdr[x] |= m[x + d];
        her[x] &= m[x + d];
      }
      for (int64_t x = d; x < W; ++x) {  // left neighbour x - d
        hdr[x] |= m[x - d];
        her[x] &= m[x - d];
      }
    }
  }
}

// Row y of the edge band (D ^ E) and interior (E), each W bytes of 0/1.
inline void edge_interior_row(const uint8_t* hd, const uint8_t* he, int64_t H, int64_t W, int64_t r, int64_t y,
                              uint8_t* edge, uint8_t* interior) {
  const int64_t y0 = y - r < 0 ? 0 : y - r;
  const int64_t y1 = y + r > H - 1 ? H - 1 : y + r;
  uint8_t* d = edge;
  uint8_t* e = interior;
  std::memcpy(d, hd + y0 * W, W);
  std::memcpy(e, he + y0 * W, W);
  for (int64_t yy = y0 + 1; yy <= y1; ++yy) {
    const uint8_t* hdr = hd + yy * W;
    const uint8_t* her = he + yy * W;
    for (int64_t i = 0; i < W; ++i) {
      d[i] |= hdr[i];
      e[i] &= her[i];
    }
  }
  for (int64_t i = 0; i < W; ++i) d[i] ^= e[i];
}

// Per-thread scratch for one frame's morphology.
struct MorphScratch {
  uint8_t *hd, *he, *m;
  static int64_t bytes(int64_t H, int64_t W) { return 2 * H * W + W; }
  MorphScratch(uint8_t* base, int64_t H, int64_t W) : hd(base), he(base + H * W), m(base + 2 * H * W) {}
};

}  // namespace cpu
}  // namespace gaitedge
