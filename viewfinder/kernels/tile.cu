// The fused raw-side pass: each block loads the raw photosites of a view tile's sensor area
// once (with a 4-site halo) into shared memory, and from there computes, per view pixel of the
// tile, the develop (MHC or bilinear, area downscale, colour matrix, tone -> RGBA8) and the
// pooled peaking level and raw-clip bit, and per own photosite the RAW histogram. The view
// pass (zebra, view histogram, scopes, composite) stays in assists.cu, over the view.
//
// The maths is that of the stage kernels it replaces (vf_preview.cuh, vf_demosaic.cuh,
// vf_assists.cuh), evaluated in the same order, so its results equal vf_preview_raw,
// vf_peak_luma/score/pool and vf_raw_histogram bit for bit; what changes is the schedule:
//   - a site is read from DRAM once, mirrored at the frame's border once, normalised once
//     (black, white balance, clip) and stabilised once (one LUT gather), at load, by 2x2
//     quads (one 32-bit load per row of a quad; each site's CFA parity a constant);
//   - luma, score and its 3-row box sums live in shared memory, never in DRAM (the
//     three-pass chain wrote and re-read two float32 planes of the full frame); luma and
//     score run in strips of four horizontal neighbours a thread (shared reads);
//   - blocks are persistent: each loops over tiles, so its RAW histogram bins (shared memory
//     up to 10 bits) are zeroed and flushed once per block, not once per tile; increments are
//     aggregated per warp (__match_any_sync): a flat or clipped area costs one atomic per
//     warp, not 32;
//   - the tone curve's RGBA8 byte from 255 thresholds (vf_tone_thresholds, made with the
//     device's own curve when it changes; 8 compare-and-select steps, no powf) where they
//     hold and no display float is written; the pooling blocks' ranges from host tables;
//   - work item k of a loop (quad, strip, view pixel) runs on thread k; the row of an item
//     is (k * m) >> 16 with m from the host's per-tile table (exact, host-checked): no
//     divisions, and a 10 x 10 tile's pixels fill 4 warps, not 5 part-filled ones;
//   - three develop variants, by #define (the host builds one module per CFA code and method
//     for the first two; the maths and its order are the same in all three):
//       VF_TILE_FAST_K (2 or 4: integer scales, the area taps checked on the host): the
//         K x K footprint unrolled with every site's colour a constant, no tap tables; the
//         pooling likewise, its box sums taken straight from the score (no column-sum pass);
//       VF_TILE_SITE_RGB (other scales whose tiles fit): each site the taps reach demosaiced
//         once (by quads, colours constant) into three planes, the taps read them;
//       neither: vf_preview_pixel per view pixel (the demosaic per tap).
//
// Geometry: a tile is tile_v x tile_v view pixels; its pool region P (the union of its
// pixels' pooling blocks, a partition of the frame) is at most VF_TILE_MAX sites a side (the
// host picks tile_v for the scale; its table gives each tile's P). Shared arrays, over P +- 4
// rounded out to even bounds ("R") unless said:
//   s_n    normalised mosaic for the develop; then the score (P +- 1)
//   s_t    stabilised value; then the score's 3-row box sums (P x P +- 1; not VF_TILE_FAST_K)
//   s_lum  VF_TILE_SITE_RGB: the demosaiced planes; then luma over P +- 3
//   s_clip raw-clip flags over P
#include "vf_assists.cuh"
#include "vf_preview.cuh"

#ifndef VF_TILE_MAX
#define VF_TILE_MAX 40
#endif
#ifndef VF_HIST_BINS
#define VF_HIST_BINS 1024
#endif
#ifndef VF_TILE_BX
#define VF_TILE_BX 16
#endif
#ifndef VF_TILE_BY
#define VF_TILE_BY 16
#endif
// RAW zebra compiled in (the host builds one module without it, for when it is off: its
// per-site clip flag is not even predicated work then)
#ifndef VF_TILE_RAW
#define VF_TILE_RAW 1
#endif
#define VF_TILE_HALO 4
#define VF_TILE_R (VF_TILE_MAX + 2 * VF_TILE_HALO + 2)  // rounded out to even bounds
#define VF_TILE_L (VF_TILE_MAX + 8)  // P +- 3, and a column for the pairs' odd widths
#define VF_TILE_GEO 12                // ints a tile of the host's table

// A float plane of the tile with frame coordinates: element (y, x) at s[(y - y0) * stride +
// (x - x0)]. No mirroring: out-of-frame positions hold their mirrors' values.
struct VfTilePlane {
    const float* s;
    int y0, x0, stride;
    VF_HD float operator()(int y, int x) const { return s[(y - y0) * stride + (x - x0)]; }
};

// Copy the out-of-frame positions of a plane (rows [y0, y1), cols [x0, x1)) from their
// mirrored in-frame positions, which the caller computed: reads then need no mirroring and
// see exactly the values the per-stage kernels read through vf_mirror.
__device__ __forceinline__ void vf_tile_fill_mirrored(float* s, int oy, int ox, int stride,
                                                      int y0, int y1, int x0, int x1,
                                                      int height, int width) {
    for (int y = y0 + (int)threadIdx.y; y < y1; y += blockDim.y) {
        for (int x = x0 + (int)threadIdx.x; x < x1; x += blockDim.x) {
            if (y >= 0 && y < height && x >= 0 && x < width) continue;
            s[(y - oy) * stride + (x - ox)] =
                s[(vf_mirror(y, height) - oy) * stride + (vf_mirror(x, width) - ox)];
        }
    }
}

// The site's value of a per-site quantity of the 2x2 block, k = (y & 1) * 2 + (x & 1), held
// in registers (an indexed array would live in local memory).
VF_HD float vf_site4(int k, float a0, float a1, float a2, float a3) {
    return (k & 2) ? ((k & 1) ? a3 : a2) : ((k & 1) ? a1 : a0);
}

// A tile plane read relative to a fixed origin: m(y, x) = s[y * VF_TILE_R + x]. With
// compile-time (y, x) every read is one shared load at an immediate offset.
struct VfTileRel {
    const float* s;
    VF_HD float operator()(int y, int x) const { return s[y * VF_TILE_R + x]; }
};

// The develop of one view pixel at an integer scale K (K even; the host checks the area taps:
// view pixel (i, j) is the sites [K i, K i + K) x [K j, K j + K), each of weight wk a side,
// the taps beyond K of weight 0). `s` points at site (K i, K j) of the tile. The same calls
// as vf_view_linear, in its order (rows, then columns, zero-weight taps skipped), with the
// CFA code, the method and the site's position compile-time constants (the host builds one
// module per CFA code and method for these layouts): K is even, so the footprint's origin
// has the parity of (0, 0) and each site's colour is known; the loads of the K x K sites'
// neighbourhoods are shared (the compiler merges equal addresses).
template <int K, int CFA, int METHOD>
__device__ __forceinline__ void vf_tile_footprint(const float* s, float w, float* acc) {
    const VfTileRel m{s};
#pragma unroll
    for (int a = 0; a < K; ++a) {
#pragma unroll
        for (int b = 0; b < K; ++b) {
            float rgb[3];
            if (METHOD == VF_METHOD_MHC) {
                vf_demosaic_mhc(m, CFA, a, b, rgb);
            } else {
                vf_demosaic_bilinear(m, CFA, a, b, rgb);
            }
            acc[0] += w * rgb[0];
            acc[1] += w * rgb[1];
            acc[2] += w * rgb[2];
        }
    }
}

// The demosaic of a 2x2 quad from an even site (`s` points at it in the tile), into three
// planes at `o` (the quad's first site) with row stride `dw`: vf_demosaic_* with the colours
// constants.
template <int CFA, int METHOD>
__device__ __forceinline__ void vf_tile_quad_rgb(const float* s, float* pr, float* pg, float* pb,
                                                 int o, int dw) {
    const VfTileRel m{s};
#pragma unroll
    for (int a = 0; a < 2; ++a) {
#pragma unroll
        for (int b = 0; b < 2; ++b) {
            float rgb[3];
            if (METHOD == VF_METHOD_MHC) {
                vf_demosaic_mhc(m, CFA, a, b, rgb);
            } else {
                vf_demosaic_bilinear(m, CFA, a, b, rgb);
            }
            pr[o + a * dw + b] = rgb[0];
            pg[o + a * dw + b] = rgb[1];
            pb[o + a * dw + b] = rgb[2];
        }
    }
}

// Matrix, tone and stores of view pixel p from its linear area mean: vf_view_linear's matrix
// and vf_preview_pixel's outputs, the same expressions. With `tone_on` (the kernel's
// argument: vf_tone_thresholds' table holds and no display float is written; `tone` is the
// block's copy of the table) each RGBA8 byte is the number of thresholds <= the linear
// value, found in 8 compare-and-select steps: the byte vf_to_u8(vf_tone(v)) gives (the table
// holds, for each byte k, the smallest float that reaches it), without the curve's powf.
__device__ __forceinline__ void vf_tile_finish(const float* acc, const float* ccm, int curve,
                                               float contrast, int tone_on,
                                               const float* tone, long long p,
                                               float* out_linear, float* out_display,
                                               unsigned char* out_rgba) {
    float lin[3];
    for (int c = 0; c < 3; ++c) {
        lin[c] = ccm[3 * c] * acc[0] + ccm[3 * c + 1] * acc[1] + ccm[3 * c + 2] * acc[2];
    }
    unsigned char* o = out_rgba + 4 * p;
    if (tone_on) {  // a kernel argument: uniform
        for (int c = 0; c < 3; ++c) {
            int b = 0;  // 4 x the largest k found so far with tone[k] <= lin[c], in bytes
#pragma unroll
            for (int s = 128; s >= 1; s >>= 1) {
                const float t = *(const float*)((const char*)tone + b + 4 * s);
                b += t <= lin[c] ? 4 * s : 0;
            }
            if (out_linear) out_linear[3 * p + c] = lin[c];
            o[c] = (unsigned char)(b >> 2);
        }
        o[3] = 255;
        return;
    }
    for (int c = 0; c < 3; ++c) {
        const float d = vf_tone(lin[c], curve, contrast);
        if (out_linear) out_linear[3 * p + c] = lin[c];
        if (out_display) out_display[3 * p + c] = d;
        o[c] = vf_to_u8(d);
    }
    o[3] = 255;
}

// The RGBA8 byte of a linear value, vf_to_u8(vf_tone(v, curve, contrast)).
VF_HD int vf_tone_byte(float v, int curve, float contrast) {
    return vf_to_u8(vf_tone(v, curve, contrast));
}

#ifndef VF_TONE_WINDOW
#define VF_TONE_WINDOW 4096
#endif
// The tone curve as thresholds (made when the curve or its contrast changes, one thread a
// byte value k of 256): tab[k] = the smallest float x in [0, 1] with vf_tone_byte(x) >= k
// (tab[0] = -inf), found by bisection over the bit patterns of [0, 1] (non-negative floats
// order as their bits) with the device's own vf_tone. The table gives vf_tone_byte(v) = the
// number of k >= 1 with tab[k] <= v, for every float v, where vf_tone_byte is a step function
// of v: true of the curves' exact maths (contrast in [0, 1]); the evaluated curve's last-bit
// errors could only move a step within a few ulps of its threshold, so each thread checks the
// VF_TONE_WINDOW floats either side of its threshold (bytes < k below, >= k from it on) and
// sets *bad where one is not (the host then keeps the curve's evaluation).
extern "C" __global__ void vf_tone_thresholds(int curve, float contrast, float* tab, int* bad) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k > 255) return;
    if (k == 0) {
        tab[0] = __int_as_float(0xff800000);  // -inf: every value has at least byte 0
        return;
    }
    int lo = 0, hi = 0x3f800000;  // the bits of 0.0f and 1.0f
    if (vf_tone_byte(__int_as_float(lo), curve, contrast) >= k ||
        vf_tone_byte(__int_as_float(hi), curve, contrast) < k) {
        *bad = 1;
        return;
    }
    while (hi - lo > 1) {  // byte(lo) < k <= byte(hi)
        const int mid = lo + ((hi - lo) >> 1);
        if (vf_tone_byte(__int_as_float(mid), curve, contrast) >= k) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    tab[k] = __int_as_float(hi);
    for (int d = 1; d <= VF_TONE_WINDOW; ++d) {
        if (hi - d >= 0 && vf_tone_byte(__int_as_float(hi - d), curve, contrast) >= k) *bad = 1;
        if (hi + d <= 0x3f800000 && vf_tone_byte(__int_as_float(hi + d), curve, contrast) < k)
            *bad = 1;
    }
}

// A 1-2-1 binomial tap, the expression of vf_peak_binomial's (the same rounding).
VF_HD float vf_tile_binom(float a, float b, float c) { return 0.25f * a + 0.5f * b + 0.25f * c; }

VF_HD int vf_site4i(int k, int a0, int a1, int a2, int a3) {
    return (k & 2) ? ((k & 1) ? a3 : a2) : ((k & 1) ? a1 : a0);
}

// Four blocks of VF_TILE_BX x VF_TILE_BY threads an SM (TilePass sizes the persistent grid
// for that): at most 64 registers a thread, which the integer-scale develop (K x K unrolled)
// exceeds unbounded (72 at 4:1: three blocks an SM, a quarter of the grid a second wave);
// the others stay under it. Empty for cudasim's g++ (no __CUDACC__).
#if defined(__CUDACC__) && defined(VF_TILE_FAST_K)
#define VF_TILE_BOUNDS __launch_bounds__(VF_TILE_BX * VF_TILE_BY, 4)
#else
#define VF_TILE_BOUNDS
#endif

extern "C" __global__ void VF_TILE_BOUNDS vf_tile_pass(
    const unsigned short* __restrict__ raw, int width, int height, int cfa, int method,
    const float* __restrict__ site_black, const float* __restrict__ site_scale,
    const int* __restrict__ iy, const float* __restrict__ wy, int ty_taps,
    const int* __restrict__ ix, const float* __restrict__ wx, int tx_taps,
    const float* __restrict__ ccm, int curve, float contrast, const float* __restrict__ tone_tab,
    int tone_on, int view_w, int view_h, int tile_v,
    float wk, int pix_magic, const int* __restrict__ tile_geo, const int* __restrict__ pool_y,
    const int* __restrict__ pool_x,
    float* __restrict__ out_linear, float* __restrict__ out_display,
    unsigned char* __restrict__ out_rgba, int do_peak, const float* __restrict__ lut, int nlut,
    float far, float t1, float t2, float t3, float fg, int do_raw, float white,
    unsigned char* __restrict__ pooled, int do_hist, unsigned long long* __restrict__ hist) {
    __shared__ float s_n[VF_TILE_R * VF_TILE_R];
    __shared__ float s_t[VF_TILE_R * VF_TILE_R];
    __shared__ float s_lum[VF_TILE_L * VF_TILE_L];
    __shared__ unsigned char s_clip[VF_TILE_MAX * VF_TILE_MAX];
    __shared__ float s_tone[256];
#ifndef VF_HIST_GLOBAL
    __shared__ unsigned int s_bins[4 * VF_HIST_BINS];
#endif
    // the block's shape is a compile-time constant (TilePass launches VF_TILE_BX x VF_TILE_BY)
    constexpr int bx = VF_TILE_BX, by = VF_TILE_BY;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * bx + tx, nth = bx * by;
    const float b0 = site_black[0], b1 = site_black[1], b2 = site_black[2], b3 = site_black[3];
    const float g0 = site_scale[0], g1 = site_scale[1], g2 = site_scale[2], g3 = site_scale[3];
    // the histogram site (R, Gr, Gb, B) of each CFA parity k = (y & 1) * 2 + (x & 1)
    const int c0 = vf_cfa_site(cfa, 0, 0), c1 = vf_cfa_site(cfa, 0, 1);
    const int c2 = vf_cfa_site(cfa, 1, 0), c3 = vf_cfa_site(cfa, 1, 1);
    // 32-bit loads of two sites need 4-byte aligned rows
    const bool scalar = (width & 1) || ((size_t)raw & 3);
    const int tiles = ((view_w + tile_v - 1) / tile_v) * ((view_h + tile_v - 1) / tile_v);
    const int npix = tile_v * tile_v;
#ifndef VF_HIST_GLOBAL
    if (do_hist) {
        for (int k = tid; k < 4 * VF_HIST_BINS; k += nth) s_bins[k] = 0;
    }
#endif
    // the tone thresholds, once a block (the tile loop's first barrier orders them); the host
    // sets tone_on only where no display float is written (that needs the curve's value)
    if (tone_on) {
#pragma unroll 1
        for (int k = tid; k < 256; k += nth) s_tone[k] = tone_tab[k];
    }
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        // the view tile [i0, i1) x [j0, j1) and its pool region P = [py0, py1) x [px0, px1),
        // from the host's table (vf_pool_range of the tile's first and last pixels)
        const int* geo = tile_geo + VF_TILE_GEO * tile;
        const int i0 = geo[0], j0 = geo[1], py0 = geo[2], py1 = geo[3], px0 = geo[4];
        const int px1 = geo[5], qmag = geo[6], lmag = geo[7], smag = geo[8];
#ifdef VF_TILE_SITE_RGB
        const int dmag = geo[9];
#endif
        const int i1 = vf_mini(i0 + tile_v, view_h), j1 = vf_mini(j0 + tile_v, view_w);
        // the host sizes tiles so that P fits the shared arrays and the frame; refuse (write
        // nothing) else
        if (py1 - py0 > VF_TILE_MAX || px1 - px0 > VF_TILE_MAX || py1 > height || px1 > width)
            return;
        const int ry0 = py0 - VF_TILE_HALO, rx0 = px0 - VF_TILE_HALO;
        const int rh = py1 - py0 + 2 * VF_TILE_HALO, rw = px1 - px0 + 2 * VF_TILE_HALO;
        const bool edge = ry0 < 0 || rx0 < 0 || ry0 + rh > height || rx0 + rw > width;
        __syncthreads();  // the previous tile's readers are done with the shared arrays

        // 1. load P +- 4, the region rounded out to even bounds, as 2x2 quads: one 32-bit
        //    load per row of a quad (two sites) where the region lies inside the frame and
        //    rows are 4-byte aligned, else four mirrored 16-bit loads. Per site: normalised
        //    value, stabilised value, and for the sites of P the raw-clip flag and the RAW
        //    histogram (each photosite belongs to exactly one tile). The quad loops run
        //    whole warps so that every lane meets the matches.
        const int qy0 = ry0 & ~1, qx0 = rx0 & ~1;
        const int nqy = (ry0 + rh + 1 - qy0) >> 1, nqx = (rx0 + rw + 1 - qx0) >> 1;
        const int nq = nqy * nqx, nq_pad = (nq + 31) & ~31;
        // (qmag from the table: q / nqx == (q * qmag) >> 16 for every quad q, host-checked)
        const bool qedge = scalar || qy0 < 0 || qx0 < 0 || qy0 + 2 * nqy > height ||
                           qx0 + 2 * nqx > width;
        // site (qy0 + ly, qx0 + lx) of CFA parity k (ly, lx of the parity of k: the region
        // starts even) with raw value v; returns its histogram bin, -1 if not a site of P
        auto site = [&](int ly, int lx, int k, unsigned v) -> int {
            const int y = qy0 + ly, x = qx0 + lx;
            const float fv = (float)v;
            s_n[ly * VF_TILE_R + lx] =
                vf_clampf((fv - vf_site4(k, b0, b1, b2, b3)) * vf_site4(k, g0, g1, g2, g3),
                          0.0f, 1.0f);
            if (do_peak) s_t[ly * VF_TILE_R + lx] = lut[(int)v < nlut ? (int)v : nlut - 1];
            const bool own = y >= py0 && y < py1 && x >= px0 && x < px1;
            if (VF_TILE_RAW && own && do_raw) s_clip[(y - py0) * VF_TILE_MAX + (x - px0)] = fv >= white;
            const int top = VF_HIST_BINS - 1;
            return own ? vf_site4i(k, c0, c1, c2, c3) * VF_HIST_BINS + ((int)v < top ? (int)v : top)
                       : -1;
        };
        // the RAW histogram: one shared atomic per distinct bin of the warp (its leader)
        auto count = [&](int bin) {
            const unsigned peers = __match_any_sync(0xffffffffu, bin);
            if (bin >= 0 && (tid & 31) == __ffs(peers) - 1) {
#ifndef VF_HIST_GLOBAL
                atomicAdd(&s_bins[bin], (unsigned)__popc(peers));
#else
                atomicAdd(&hist[bin], (unsigned long long)__popc(peers));
#endif
            }
        };
        if (!qedge) {
#pragma unroll 1
            for (int q = tid; q < nq_pad; q += nth) {
                int h0 = -1, h1 = -1, h2 = -1, h3 = -1;
                if (q < nq) {
                    const int qy = (q * qmag) >> 16, ly = 2 * qy, lx = 2 * (q - qy * nqx);
                    const unsigned short* r = raw + (size_t)(qy0 + ly) * (unsigned)width + qx0 + lx;
                    const unsigned top = *(const unsigned*)r;  // little-endian: x in the low half
                    const unsigned bot = *(const unsigned*)(r + width);
                    h0 = site(ly, lx, 0, top & 0xffffu);
                    h1 = site(ly, lx + 1, 1, top >> 16);
                    h2 = site(ly + 1, lx, 2, bot & 0xffffu);
                    h3 = site(ly + 1, lx + 1, 3, bot >> 16);
                }
                if (do_hist) {  // uniform: every lane of the warp is here
                    count(h0);
                    count(h1);
                    count(h2);
                    count(h3);
                }
            }
        } else {
#pragma unroll 1
            for (int q = tid; q < nq_pad; q += nth) {  // mirrored: the tile leaves the frame
                int h0 = -1, h1 = -1, h2 = -1, h3 = -1;
                if (q < nq) {
                    const int qy = (q * qmag) >> 16, ly = 2 * qy, lx = 2 * (q - qy * nqx);
                    const int y = qy0 + ly, x = qx0 + lx;
                    const size_t r0 = (size_t)vf_mirror(y, height) * (unsigned)width;
                    const size_t r1 = (size_t)vf_mirror(y + 1, height) * (unsigned)width;
                    const int x0 = vf_mirror(x, width), x1 = vf_mirror(x + 1, width);
                    h0 = site(ly, lx, 0, raw[r0 + x0]);
                    h1 = site(ly, lx + 1, 1, raw[r0 + x1]);
                    h2 = site(ly + 1, lx, 2, raw[r1 + x0]);
                    h3 = site(ly + 1, lx + 1, 3, raw[r1 + x1]);
                }
                if (do_hist) {
                    count(h0);
                    count(h1);
                    count(h2);
                    count(h3);
                }
            }
        }
        __syncthreads();

        // 2. the develop of each view pixel of the tile, from the normalised sites
        //    (pixel p of the tile on thread p: a 10 x 10 tile keeps 4 warps busy, not 5 part-
        //    filled ones; i = p / tile_v by the host's multiplier, exact for p < 256)
#ifdef VF_TILE_SITE_RGB
        //    At other scales whose sites fit (the host checks): first the demosaic of every
        //    site the tile's area taps reach ([py0, py1 + 1) x [px0, px1 + 1), clipped), once,
        //    by 2x2 quads from even bounds (each site's colour a constant, the CFA code and
        //    the method being ones), into three planes over s_lum (free until the luma); the
        //    area taps then read them: vf_view_linear's loops and sums, its demosaic calls
        //    made beforehand.
        const int dy0 = py0 & ~1, dx0 = px0 & ~1;
        const int ndy = (vf_mini(py1 + 1, height) - dy0 + 1) >> 1;
        const int ndx = (vf_mini(px1 + 1, width) - dx0 + 1) >> 1;
        const int dw = 2 * ndx, dplane = 2 * ndy * dw, nd = ndy * ndx;
        float* const pr = s_lum;
        float* const pg = s_lum + dplane;
        float* const pb = s_lum + 2 * dplane;
#pragma unroll 1
        for (int q = tid; q < nd; q += nth) {
            const int r = (q * dmag) >> 16, ly = 2 * r, lx = 2 * (q - r * ndx);
            const float* s = s_n + (dy0 + ly - qy0) * VF_TILE_R + (dx0 + lx - qx0);
            vf_tile_quad_rgb<VF_TILE_CFA, VF_TILE_METHOD>(s, pr, pg, pb, ly * dw + lx, dw);
        }
        __syncthreads();
#endif
#pragma unroll 1
        for (int p = tid; p < npix; p += nth) {
            const int di = (p * pix_magic) >> 16, i = i0 + di, j = j0 + p - di * tile_v;
            if (i >= i1 || j >= j1) continue;
#ifdef VF_TILE_FAST_K
            {  // an integer scale: the unrolled footprint, no tap tables
                float acc[3] = {0.0f, 0.0f, 0.0f};
                const float w = wk * wk;
                const float* s = s_n + (VF_TILE_FAST_K * i - qy0) * VF_TILE_R +
                                 (VF_TILE_FAST_K * j - qx0);
                vf_tile_footprint<VF_TILE_FAST_K, VF_TILE_CFA, VF_TILE_METHOD>(s, w, acc);
                vf_tile_finish(acc, ccm, curve, contrast, tone_on, s_tone,
                               (long long)i * view_w + j, out_linear, out_display, out_rgba);
            }
#elif defined(VF_TILE_SITE_RGB)
            {
                float acc[3] = {0.0f, 0.0f, 0.0f};
#pragma unroll 1
                for (int ta = 0; ta < ty_taps; ++ta) {
                    const float wya = wy[i * ty_taps + ta];
                    if (wya == 0.0f) continue;
                    const int row = (iy[i * ty_taps + ta] - dy0) * dw - dx0;
#pragma unroll 1
                    for (int tb = 0; tb < tx_taps; ++tb) {
                        const float w = wya * wx[j * tx_taps + tb];
                        if (w == 0.0f) continue;
                        const int k = row + ix[j * tx_taps + tb];
                        acc[0] += w * pr[k];
                        acc[1] += w * pg[k];
                        acc[2] += w * pb[k];
                    }
                }
                vf_tile_finish(acc, ccm, curve, contrast, tone_on, s_tone,
                               (long long)i * view_w + j, out_linear, out_display, out_rgba);
            }
#else
            {
                const VfTilePlane mosaic{s_n, qy0, qx0, VF_TILE_R};
                vf_preview_pixel(mosaic, cfa, method, VfTaps{iy, wy, ty_taps},
                                 VfTaps{ix, wx, tx_taps}, ccm, curve, contrast, i, j, view_w,
                                 out_linear, out_display, out_rgba);
            }
#endif
        }
#ifdef VF_TILE_SITE_RGB
        __syncthreads();  // the planes are read; the luma overwrites them
#endif

        // 3. peaking: lum on P +- 3 (from s_t), the score on P +- 1 (into s_n, free now),
        //    its 3-row sums on P x P +- 1 (into s_t); in-frame sites computed as
        //    vf_peak_luma / vf_peak_score / vf_peak_level do, out-of-frame ones copied from
        //    their mirrors
        const int ly0 = py0 - 3, lx0 = px0 - 3;
        const int sy0 = py0 - 1, sx0 = px0 - 1;
        if (do_peak) {
            const VfTilePlane t{s_t, qy0, qx0, VF_TILE_R};
            const int ylo = vf_maxi(ly0, 0), yhi = vf_mini(py1 + 3, height);
            const int xlo = vf_maxi(lx0, 0), xhi = vf_mini(px1 + 3, width);
            // four horizontal neighbours a thread (they share their six columns' taps), strip
            // q of the region on thread q (lmag from the table: q / strips a row); the last
            // strip of a row starts at xhi - 4 (it redoes sites of the one before: the same
            // values), so no read or write leaves the region (a region is >= 4 sites wide)
            const int lpr = (xhi - xlo + 3) >> 2, nlp = (yhi - ylo) * lpr;
#pragma unroll 1
            for (int q = tid; q < nlp; q += nth) {
                const int r = (q * lmag) >> 16, y = ylo + r;
                const int x = vf_mini(xlo + 4 * (q - r * lpr), xhi - 4);
                const float* c = &s_t[(y - qy0) * VF_TILE_R + (x - qx0)];
                // vf_peak_binomial's columns, then its rows, for sites x .. x + 3
                float col[6];
#pragma unroll
                for (int k = 0; k < 6; ++k)
                    col[k] = vf_tile_binom(c[k - 1 - VF_TILE_R], c[k - 1], c[k - 1 + VF_TILE_R]);
                float* o = &s_lum[(y - ly0) * VF_TILE_L + (x - lx0)];
#pragma unroll
                for (int k = 0; k < 4; ++k) o[k] = vf_tile_binom(col[k], col[k + 1], col[k + 2]);
            }
            __syncthreads();
            if (edge) {
                vf_tile_fill_mirrored(s_lum, ly0, lx0, VF_TILE_L, ly0, py1 + 3, lx0, px1 + 3,
                                      height, width);
                __syncthreads();
            }
            const VfTilePlane lum{s_lum, ly0, lx0, VF_TILE_L};
            const int sylo = vf_maxi(sy0, 0), syhi = vf_mini(py1 + 1, height);
            const int sxlo = vf_maxi(sx0, 0), sxhi = vf_mini(px1 + 1, width);
            // strips of four again (their stencils share 28 of 64 reads), smag from the
            // table, the last strip of a row at sxhi - 4 (a region is >= 4 sites wide)
            const int spr = (sxhi - sxlo + 3) >> 2, nsp = (syhi - sylo) * spr;
#pragma unroll 1
            for (int q = tid; q < nsp; q += nth) {
                const int r = (q * smag) >> 16, y = sylo + r;
                const int x = vf_mini(sxlo + 4 * (q - r * spr), sxhi - 4);
                float sc[4];
#pragma unroll
                for (int k = 0; k < 4; ++k) sc[k] = vf_peak_score(lum, y, x + k, far);
                float* o = &s_n[(y - sy0) * VF_TILE_R + (x - sx0)];
#pragma unroll
                for (int k = 0; k < 4; ++k) o[k] = sc[k];
            }
            __syncthreads();
            if (edge) {
                vf_tile_fill_mirrored(s_n, sy0, sx0, VF_TILE_R, sy0, py1 + 1, sx0, px1 + 1,
                                      height, width);
                __syncthreads();
            }
#if !defined(VF_TILE_FAST_K) && !defined(VF_TILE_POOL_B)
            // the box's column sums, in vf_peak_level's order: score(y-1) + score(y) + score(y+1)
#pragma unroll 1
            for (int y = py0 + ty; y < py1; y += by) {
#pragma unroll 1
                for (int x = sx0 + tx; x < px1 + 1; x += bx) {
                    const float* c = s_n + (y - sy0) * VF_TILE_R + (x - sx0);
                    s_t[(y - py0) * VF_TILE_R + (x - sx0)] =
                        c[-VF_TILE_R] + c[0] + c[VF_TILE_R];
                }
            }
            __syncthreads();
#endif
        }

        // 4. per view pixel: the highest peaking level and the raw-clip bit of its block
#if defined(VF_TILE_FAST_K) || defined(VF_TILE_POOL_B)
        //    (integer scale, or blocks of at most VF_TILE_POOL_B sites a side (host-checked):
        //    the block unrolled, K x K sites with the sites outside a smaller block masked,
        //    vf_peak_level's box sums taken here from the score, in its order, without the
        //    column-sum pass)
#pragma unroll 1
        for (int p = tid; p < npix; p += nth) {
            const int di = (p * pix_magic) >> 16, i = i0 + di, j = j0 + p - di * tile_v;
            if (i >= i1 || j >= j1) continue;
#ifdef VF_TILE_FAST_K
            constexpr int K = VF_TILE_FAST_K;
            const int y0 = K * i, x0 = K * j, ny = K, nx = K;
#else
            constexpr int K = VF_TILE_POOL_B;
            // vf_pool_range of row i and column j, from the host's tables (no divisions)
            const int y0 = pool_y[2 * i], ny = pool_y[2 * i + 1] - y0;
            const int x0 = pool_x[2 * j], nx = pool_x[2 * j + 1] - x0;
#endif
            int level = 0, clip = 0;
            if (do_peak) {
                // score rows y0 - 1 .. y0 + K and columns x0 - 1 .. x0 + K; luma of the block
                const float* sc = s_n + (y0 - 1 - sy0) * VF_TILE_R + (x0 - 1 - sx0);
                const float* lm = s_lum + (y0 - ly0) * VF_TILE_L + (x0 - lx0);
                bool oky[K], okx[K];  // sites within 2 of the frame's border get level 0
#pragma unroll
                for (int a = 0; a < K; ++a) {
                    oky[a] = a < ny && y0 + a >= 2 && y0 + a < height - 2;
                    okx[a] = a < nx && x0 + a >= 2 && x0 + a < width - 2;
                }
#pragma unroll
                for (int a = 0; a < K; ++a) {
                    float col[K + 2];  // score(y - 1) + score(y) + score(y + 1), y = y0 + a
#pragma unroll
                    for (int c = 0; c < K + 2; ++c) {
                        col[c] = sc[a * VF_TILE_R + c] + sc[(a + 1) * VF_TILE_R + c] +
                                 sc[(a + 2) * VF_TILE_R + c];
                    }
#pragma unroll
                    for (int b = 0; b < K; ++b) {
                        const float v = (col[b] + col[b + 1] + col[b + 2]) * (1.0f / 9.0f);
                        const float l = lm[a * VF_TILE_L + b];
                        const float fl = fg * (l > 0.0f ? l : 0.0f);
                        const int lv = (v > fmaxf(t1, fl)) + (v > fmaxf(t2, 2.0f * fl)) +
                                       (v > fmaxf(t3, 4.0f * fl));
                        level = oky[a] && okx[b] ? vf_maxi(level, lv) : level;
                    }
                }
            }
            if (VF_TILE_RAW && do_raw) {
                const unsigned char* cl = s_clip + (y0 - py0) * VF_TILE_MAX + (x0 - px0);
#pragma unroll
                for (int a = 0; a < K; ++a) {
#pragma unroll
                    for (int b = 0; b < K; ++b) {
                        if (a < ny && b < nx) clip |= cl[a * VF_TILE_MAX + b];
                    }
                }
            }
            pooled[(size_t)i * (unsigned)view_w + j] =
                (unsigned char)(level | (clip ? VF_POOL_RAW_CLIP : 0));
        }
#else
        const VfTilePlane lum{s_lum, ly0, lx0, VF_TILE_L};
#pragma unroll 1
        for (int p = tid; p < npix; p += nth) {
            const int di = (p * pix_magic) >> 16, i = i0 + di, j = j0 + p - di * tile_v;
            if (i >= i1 || j >= j1) continue;
            int y0, y1, x0, x1;
            vf_pool_range(i, height, view_h, &y0, &y1);
            vf_pool_range(j, width, view_w, &x0, &x1);
            {
                int level = 0, clip = 0;
                for (int y = y0; y < y1; ++y) {
                    const float* cols = s_t + (y - py0) * VF_TILE_R - sx0;
                    for (int x = x0; x < x1; ++x) {
                        if (do_peak && level < 3 && y >= 2 && x >= 2 && y < height - 2 &&
                            x < width - 2) {
                            // vf_peak_level from the column sums: the same sums, same order
                            const float v = (cols[x - 1] + cols[x] + cols[x + 1]) * (1.0f / 9.0f);
                            const float l = lum(y, x);
                            const float f = fg * (l > 0.0f ? l : 0.0f);
                            level = vf_maxi(level, (v > fmaxf(t1, f)) + (v > fmaxf(t2, 2.0f * f)) +
                                                       (v > fmaxf(t3, 4.0f * f)));
                        }
                        if (VF_TILE_RAW && do_raw) clip |= s_clip[(y - py0) * VF_TILE_MAX + (x - px0)];
                    }
                }
                pooled[(size_t)i * (unsigned)view_w + j] =
                    (unsigned char)(level | (clip ? VF_POOL_RAW_CLIP : 0));
            }
        }
#endif
    }

#ifndef VF_HIST_GLOBAL
    if (do_hist) {
        __syncthreads();
#pragma unroll 1
        for (int k = tid; k < 4 * VF_HIST_BINS; k += nth)
            if (s_bins[k]) atomicAdd(&hist[k], (unsigned long long)s_bins[k]);
    }
#endif
}
