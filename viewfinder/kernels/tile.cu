// The fused raw-side pass: one block per view tile reads each raw photosite of its sensor area
// once (with a 4-site halo) into shared memory, and from there computes, per view pixel of the
// tile, the develop (MHC or bilinear, area downscale, colour matrix, tone -> RGBA8) and the
// pooled peaking level and raw-clip bit, and per own photosite the RAW histogram. The view
// pass (zebra, view histogram, scopes, composite) stays in assists.cu, over the view.
//
// The maths is that of the stage kernels it replaces (vf_preview.cuh, vf_demosaic.cuh,
// vf_assists.cuh), evaluated in the same order, so its results equal vf_preview_raw,
// vf_peak_luma/score/pool and vf_raw_histogram bit for bit; what changes is the schedule:
//   - mirroring happens once, when the tile is loaded; inside the tile every read is direct;
//   - the stabilising LUT is gathered once per site (not 9 times), into shared memory;
//   - luma and score live in shared memory, never in DRAM (the three-pass chain wrote and
//     re-read two float32 planes of the full frame);
//   - RAW histogram counts are aggregated per warp (__match_any_sync), so a flat or clipped
//     area costs one atomic per warp, not 32; into shared bins up to 10 bits, else global.
//
// Geometry: the view tile is tile_v x tile_v view pixels; its pool region P (the union of its
// pixels' pooling blocks, a partition of the frame) is at most VF_TILE_MAX sites a side (the
// host picks tile_v for the scale). Shared arrays, with origins relative to P:
//   raw, t : P +- 4 (t, the stabilised value, is later overwritten by the score on P +- 1)
//   lum    : P +- 3
#include "vf_assists.cuh"
#include "vf_preview.cuh"

#ifndef VF_TILE_MAX
#define VF_TILE_MAX 48
#endif
#ifndef VF_HIST_BINS
#define VF_HIST_BINS 1024
#endif
#define VF_TILE_HALO 4
#define VF_TILE_R (VF_TILE_MAX + 2 * VF_TILE_HALO)
#define VF_TILE_L (VF_TILE_MAX + 6)

// The tile's raw sites as the normalised mosaic (VfRawSource's maths, no mirroring: the halo
// holds the mirrored sites already). Coordinates are the frame's.
struct VfTileMosaic {
    const unsigned short* s;
    int y0, x0;  // frame coordinates of s[0]
    float black[4], scale[4];  // per site of the 2x2 block, (y & 1) * 2 + (x & 1)
    VF_HD float operator()(int y, int x) const {
        const int k = ((y & 1) << 1) | (x & 1);
        const float v = (float)s[(y - y0) * VF_TILE_R + (x - x0)];
        return vf_clampf((v - black[k]) * scale[k], 0.0f, 1.0f);
    }
};

// A float plane of the tile (lum or score), frame coordinates.
struct VfTilePlane {
    const float* s;
    int y0, x0, stride;
    VF_HD float operator()(int y, int x) const { return s[(y - y0) * stride + (x - x0)]; }
};

// Copy the out-of-frame positions of a plane (rows/cols [y0, y1) x [x0, x1)) from their
// mirrored in-frame positions, which the caller computed: reads of the plane then need no
// mirroring, and see exactly the values the unfused kernels read through vf_mirror.
__device__ __forceinline__ void vf_tile_fill_mirrored(float* s, int oy, int ox, int stride,
                                                      int y0, int y1, int x0, int x1,
                                                      int height, int width, int tid, int nth) {
    const int h = y1 - y0, w = x1 - x0;
    for (int k = tid; k < h * w; k += nth) {
        const int y = y0 + k / w, x = x0 + k % w;
        if (y >= 0 && y < height && x >= 0 && x < width) continue;
        s[(y - oy) * stride + (x - ox)] =
            s[(vf_mirror(y, height) - oy) * stride + (vf_mirror(x, width) - ox)];
    }
}

extern "C" __global__ void vf_tile_pass(
    const unsigned short* __restrict__ raw, int width, int height, int cfa, int method,
    const float* __restrict__ site_black, const float* __restrict__ site_scale,
    const int* __restrict__ iy, const float* __restrict__ wy, int ty_taps,
    const int* __restrict__ ix, const float* __restrict__ wx, int tx_taps,
    const float* __restrict__ ccm, int curve, float contrast, int view_w, int view_h, int tile_v,
    float* __restrict__ out_linear, float* __restrict__ out_display,
    unsigned char* __restrict__ out_rgba, int do_peak, const float* __restrict__ lut, int nlut,
    float far, float t1, float t2, float t3, float fg, int do_raw, float white,
    unsigned char* __restrict__ pooled, int do_hist, unsigned long long* __restrict__ hist) {
    __shared__ unsigned short s_raw[VF_TILE_R * VF_TILE_R];
    __shared__ float s_t[VF_TILE_R * VF_TILE_R];  // t, then the score
    __shared__ float s_lum[VF_TILE_L * VF_TILE_L];
#ifndef VF_HIST_GLOBAL
    __shared__ unsigned int s_bins[4 * VF_HIST_BINS];
#endif
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    const int nth = blockDim.x * blockDim.y;
    // the view tile and its pool region P = [py0, py1) x [px0, px1)
    const int i0 = blockIdx.y * tile_v, j0 = blockIdx.x * tile_v;
    const int i1 = vf_mini(i0 + tile_v, view_h), j1 = vf_mini(j0 + tile_v, view_w);
    int py0, py1, px0, px1, unused;
    vf_pool_range(i0, height, view_h, &py0, &unused);
    vf_pool_range(i1 - 1, height, view_h, &unused, &py1);
    vf_pool_range(j0, width, view_w, &px0, &unused);
    vf_pool_range(j1 - 1, width, view_w, &unused, &px1);
    // the host sizes tiles so that P fits the shared arrays; refuse (write nothing) otherwise
    if (py1 - py0 > VF_TILE_MAX || px1 - px0 > VF_TILE_MAX) return;
    // the area taps of the tile's pixels reach one site past P (a fraction of it)
    const int ry0 = py0 - VF_TILE_HALO, rx0 = px0 - VF_TILE_HALO;
    const int rh = py1 - py0 + 2 * VF_TILE_HALO, rw = px1 - px0 + 2 * VF_TILE_HALO;
    const bool edge = ry0 < 0 || rx0 < 0 || ry0 + rh > height || rx0 + rw > width;
#ifndef VF_HIST_GLOBAL
    if (do_hist) {
        for (int k = tid; k < 4 * VF_HIST_BINS; k += nth) s_bins[k] = 0;
        __syncthreads();
    }
#endif

    // 1. load: each site of P +- 4 once (mirrored at the frame's border), its stabilised
    //    value, and the RAW histogram of the sites of P (each photosite in exactly one tile)
    const int nload = rh * rw;
    const int nload_warps = (nload + nth - 1) / nth * nth;  // whole warps: __match_any_sync
    for (int k = tid; k < nload_warps; k += nth) {
        int bin = -1;
        if (k < nload) {
            const int ly = k / rw, lx = k % rw;
            const int y = ry0 + ly, x = rx0 + lx;
            const int gy = edge ? vf_mirror(y, height) : y, gx = edge ? vf_mirror(x, width) : x;
            const unsigned short v = raw[(long long)gy * width + gx];
            s_raw[ly * VF_TILE_R + lx] = v;
            if (do_peak) s_t[ly * VF_TILE_R + lx] = lut[v < nlut ? v : nlut - 1];
            if (do_hist && y >= py0 && y < py1 && x >= px0 && x < px1) {
                const int top = VF_HIST_BINS - 1;
                bin = vf_cfa_site(cfa, y, x) * VF_HIST_BINS + (v < top ? v : top);
            }
        }
        if (do_hist) {  // uniform: every lane of the warp is here
            // one atomic per distinct bin of the warp (a flat or clipped area: one, not 32)
            const unsigned peers = __match_any_sync(0xffffffffu, bin);
            if (bin >= 0 && (tid & 31) == __ffs(peers) - 1) {
#ifndef VF_HIST_GLOBAL
                atomicAdd(&s_bins[bin], (unsigned)__popc(peers));
#else
                atomicAdd(&hist[bin], (unsigned long long)__popc(peers));
#endif
            }
        }
    }
    __syncthreads();

    // 2. peaking: lum on P +- 3, then the score on P +- 1 (into s_t), in-frame sites computed
    //    exactly as vf_peak_luma / vf_peak_score, out-of-frame ones copied from their mirrors
    const int ly0 = py0 - 3, lx0 = px0 - 3, lh = py1 - py0 + 6, lw = px1 - px0 + 6;
    const int sy0 = py0 - 1, sx0 = px0 - 1, sh = py1 - py0 + 2, sw = px1 - px0 + 2;
    if (do_peak) {
        const VfTilePlane t{s_t, ry0, rx0, VF_TILE_R};
        for (int k = tid; k < lh * lw; k += nth) {
            const int y = ly0 + k / lw, x = lx0 + k % lw;
            if (y < 0 || y >= height || x < 0 || x >= width) continue;
            s_lum[(y - ly0) * VF_TILE_L + (x - lx0)] = vf_peak_binomial(t, y, x);
        }
        __syncthreads();
        if (edge) {
            vf_tile_fill_mirrored(s_lum, ly0, lx0, VF_TILE_L, ly0, ly0 + lh, lx0, lx0 + lw,
                                  height, width, tid, nth);
            __syncthreads();
        }
        const VfTilePlane lum{s_lum, ly0, lx0, VF_TILE_L};
        float* score = s_t;  // t is no longer read
        for (int k = tid; k < sh * sw; k += nth) {
            const int y = sy0 + k / sw, x = sx0 + k % sw;
            if (y < 0 || y >= height || x < 0 || x >= width) continue;
            score[(y - sy0) * VF_TILE_R + (x - sx0)] = vf_peak_score(lum, y, x, far);
        }
        __syncthreads();
        if (edge) {
            vf_tile_fill_mirrored(score, sy0, sx0, VF_TILE_R, sy0, sy0 + sh, sx0, sx0 + sw,
                                  height, width, tid, nth);
            __syncthreads();
        }
    }

    // 3. per view pixel: pooled level and clip bit, then the develop
    const VfTileMosaic m{s_raw, ry0, rx0,
                         {site_black[0], site_black[1], site_black[2], site_black[3]},
                         {site_scale[0], site_scale[1], site_scale[2], site_scale[3]}};
    const VfTilePlane score{s_t, sy0, sx0, VF_TILE_R};
    const VfTilePlane lum{s_lum, ly0, lx0, VF_TILE_L};
    const int tw = j1 - j0;
    for (int k = tid; k < (i1 - i0) * tw; k += nth) {
        const int i = i0 + k / tw, j = j0 + k % tw;
        int y0, y1, x0, x1;
        vf_pool_range(i, height, view_h, &y0, &y1);
        vf_pool_range(j, width, view_w, &x0, &x1);
        int level = 0, clip = 0;
        for (int y = y0; y < y1; ++y) {
            for (int x = x0; x < x1; ++x) {
                if (do_peak && level < 3)
                    level = vf_maxi(level, vf_peak_level(score, lum, y, x, height, width, t1, t2,
                                                         t3, fg));
                if (do_raw && !clip)
                    clip = (float)s_raw[(y - ry0) * VF_TILE_R + (x - rx0)] >= white;
            }
        }
        const long long p = (long long)i * view_w + j;
        pooled[p] = (unsigned char)(level | (clip ? VF_POOL_RAW_CLIP : 0));
        vf_preview_pixel(m, cfa, method, VfTaps{iy, wy, ty_taps}, VfTaps{ix, wx, tx_taps}, ccm,
                         curve, contrast, i, j, view_w, out_linear, out_display, out_rgba);
    }

#ifndef VF_HIST_GLOBAL
    if (do_hist) {
        __syncthreads();
        for (int k = tid; k < 4 * VF_HIST_BINS; k += nth)
            if (s_bins[k]) atomicAdd(&hist[k], (unsigned long long)s_bins[k]);
    }
#endif
}
