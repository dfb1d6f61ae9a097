// The depth-photograph scene's sensor pass on the device: the RGGB mosaic (h, w) float32 of
// photo-electron rates, written straight from the defocused work grid (a few MB, uploaded per
// change) with no full-size intermediate. The maths is scene_depth._rows_pass_planar then
// _mosaic_pass, per pixel, in the same order (vf_scene.cuh):
//   - the separable Keys cubic of the work grid: four column taps per sensor column and four
//     row taps per sensor row (tables from the host's _cubic_taps, so the weights are the
//     CPU path's); each of the four rows is resampled horizontally, then the four vertically;
//   - the blur circle (plane 3) picks each octave's grain transfer from the LUT; the grain
//     octaves (tiles of period p, read along x: coalesced) are summed in order, times the
//     amplitude (plane 4), plus one, clamped, times the separable vignetting;
//   - the RGGB site of (y0 + y, x0 + x) picks the colour plane: R 0, G 1, B 2.
// Each warp reads the small work grid through the cache (a warp's 32 pixels span a few work
// pixels at the sensor's scale: the taps hit the same lines), writes 32 contiguous floats,
// and does no integer division (tile wraps by vf_scene_wrap).
#include "vf_scene.cuh"

#define VF_SCENE_BX 32
#define VF_SCENE_BY 8
// 48 registers a thread on sm_90 (ptxas -v): five blocks an SM. Empty for cudasim's g++.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define VF_SCENE_BOUNDS __launch_bounds__(VF_SCENE_BX * VF_SCENE_BY)
#else
#define VF_SCENE_BOUNDS
#endif

// planes: (5, rows, ww) float32, colour (crosstalk applied), blur circle, grain amplitude.
// xi, xw: (4, w) column taps and weights (planar: tap k of column x at k * w + x);
// yi, yw: (h, 4) row taps (rows of `planes`) and weights. tiles: (n_oct, tile_side,
// tile_side); oct: (n_oct, 3) period, row origin (y0 + offset_y) % period and column origin
// (x0 + offset_x) % period; oct_inv: (n_oct) 1 / period; lut: (n_oct, m). par_y, par_x: the
// parity of the window origin (y0, x0).
extern "C" __global__ void VF_SCENE_BOUNDS
vf_scene_mosaic(const float* __restrict__ planes, int rows, int ww, const int* __restrict__ xi,
                const float* __restrict__ xw, const int* __restrict__ yi,
                const float* __restrict__ yw, float coc_scale, int par_y, int par_x,
                const float* __restrict__ tiles, int tile_side, const int* __restrict__ oct,
                const float* __restrict__ oct_inv, int n_oct, const float* __restrict__ lut,
                int m, const float* __restrict__ vig_y, const float* __restrict__ vig_x,
                float* __restrict__ out, int w, int h) {
    const int x = blockIdx.x * VF_SCENE_BX + threadIdx.x;
    const int y = blockIdx.y * VF_SCENE_BY + threadIdx.y;
    if (x >= w || y >= h) return;
    int ix[4], ry[4];
    float bx[4], ay[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        ix[k] = __ldg(xi + k * w + x);
        bx[k] = __ldg(xw + k * w + x);
        ry[k] = __ldg(yi + 4 * y + k);
        ay[k] = __ldg(yw + 4 * y + k);
    }
    const long long plane = (long long)rows * ww;
    const float c = vf_scene_sample(planes, plane, ww, 3, ry, ay, ix, bx);
    const int li = vf_scene_lut_index(c, coc_scale, m);
    float grain = 0.0f;
    for (int o = 0; o < n_oct; ++o) {  // octaves in order: the CPU's sums
        const int p = __ldg(oct + 3 * o);
        const float inv = __ldg(oct_inv + o);
        const int ty = vf_scene_wrap(__ldg(oct + 3 * o + 1) + y, p, inv);
        const int tx = vf_scene_wrap(__ldg(oct + 3 * o + 2) + x, p, inv);
        const long long tile = (long long)o * tile_side * tile_side;
        grain += __ldg(lut + o * m + li) * __ldg(tiles + tile + (long long)ty * tile_side + tx);
    }
    const float amp = vf_scene_sample(planes, plane, ww, 4, ry, ay, ix, bx);
    const float gain = fmaxf(1.0f + grain * amp, 0.0f) * __ldg(vig_y + y) * __ldg(vig_x + x);
    const int ch = ((y + par_y) & 1) + ((x + par_x) & 1);  // RGGB: 0 R, 1 G, 2 B
    const float v = vf_scene_sample(planes, plane, ww, ch, ry, ay, ix, bx);
    out[(long long)y * w + x] = fmaxf(v, 0.0f) * gain;
}
