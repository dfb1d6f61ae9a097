// The depth-photograph scene's sensor pass on the device: the RGGB mosaic (h, w) float32 of
// photo-electron rates, written straight from the defocused work grid (a few MB, uploaded per
// change) with no full-size intermediate. The maths is scene_depth._rows_pass_planar then
// _mosaic_pass, per pixel, in the same order (vf_scene.cuh):
//   - the separable Keys cubic of the work grid: four column taps per sensor column and four
//     row taps per sensor row (tables from the host's _cubic_taps, so the weights are the
//     CPU path's); the work rows are resampled horizontally, then vertically;
//   - the blur circle (plane 3) picks each octave's grain transfer from the LUT; the grain
//     octaves are summed in order, times the amplitude (plane 4), plus one, clamped, times
//     the separable vignetting;
//   - the RGGB site of (y0 + y, x0 + x) picks the colour plane: R 0, G 1, B 2.
// Schedule: a block is 32 columns x 8 rows of the sensor. A work pixel spans 1 / s >= 1
// sensor pixels (s <= 1 by the work grid's scale), so the block's rows reach at most 11
// work rows: the block resamples those rows horizontally once (every plane, each of its 32
// columns) into shared memory, and each pixel takes its three planes' vertical taps from
// there (12 shared reads, not 48 global ones). Grain tiles are read along x (coalesced) at a
// tile column and tile row offset from host tables (the wraps: no division); the LUT, tables
// and the work grid stay in L1/L2; each warp writes 32 contiguous floats.
#include "vf_scene.cuh"

#define VF_SCENE_BX 32
#define VF_SCENE_BY 8
// Work rows a block's VF_SCENE_BY sensor rows reach, at most (the host checks it).
#define VF_SCENE_MAXR 12
// 5 blocks an SM on sm_90 (ptxas -v). Empty for cudasim's g++.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define VF_SCENE_BOUNDS __launch_bounds__(VF_SCENE_BX * VF_SCENE_BY)
#else
#define VF_SCENE_BOUNDS
#endif

// planes: (rows, ww, 5) float32 work grid (interleaved). xi, xw: (4, w) column taps and
// weights (planar: tap k of column x at k * w + x); yi, yw: (h, 4) row taps (rows of
// `planes`, ascending with y) and weights. tiles: (n_oct, T, T) grain tiles; tcol: (n_oct, w)
// tile column of each sensor column; trow: (n_oct, h) offset of each sensor row's tile row
// in `tiles` (o * T * T + row * T); lut: (n_oct, m). par_y, par_x: the parity of the window
// origin (y0, x0).
extern "C" __global__ void VF_SCENE_BOUNDS
vf_scene_mosaic(const float* __restrict__ planes, int ww, const int* __restrict__ xi,
                const float* __restrict__ xw, const int* __restrict__ yi,
                const float* __restrict__ yw, float coc_scale, int par_y, int par_x,
                const float* __restrict__ tiles, const int* __restrict__ tcol,
                const int* __restrict__ trow, int n_oct, const float* __restrict__ lut, int m,
                const float* __restrict__ vig_y, const float* __restrict__ vig_x,
                float* __restrict__ out, int w, int h) {
    __shared__ float hs[VF_SCENE_MAXR][VF_SCENE_BX][VF_SCENE_PLANES];  // stride 5: no conflicts
    const int lx = threadIdx.x, ly = threadIdx.y;
    const int x = blockIdx.x * VF_SCENE_BX + lx;
    const int y = blockIdx.y * VF_SCENE_BY + ly;
    const int y_first = blockIdx.y * VF_SCENE_BY;
    const int y_last = vf_mini(y_first + VF_SCENE_BY, h) - 1;
    const int r0 = __ldg(yi + 4 * y_first);
    const int nr = __ldg(yi + 4 * y_last + 3) - r0 + 1;
    const int xc = vf_mini(x, w - 1);  // columns past the edge resample the last (unused)
    int ix[4];
    float bx[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        ix[k] = __ldg(xi + k * w + xc);
        bx[k] = __ldg(xw + k * w + xc);
    }
    for (int j = ly; j < nr; j += VF_SCENE_BY) {  // the block's work rows, horizontally
        const float* row = planes + (long long)(r0 + j) * ww * VF_SCENE_PLANES;
#pragma unroll
        for (int c = 0; c < VF_SCENE_PLANES; ++c) hs[j][lx][c] = vf_scene_hrow(row, ix, bx, c);
    }
    __syncthreads();
    if (x >= w || y >= h) return;
    int ry[4];
    float ay[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        ry[k] = __ldg(yi + 4 * y + k) - r0;
        ay[k] = __ldg(yw + 4 * y + k);
    }
    const float c = vf_scene_vcol(ay, hs[ry[0]][lx][3], hs[ry[1]][lx][3], hs[ry[2]][lx][3],
                                  hs[ry[3]][lx][3]);
    const float* lrow = lut + vf_scene_lut_index(c, coc_scale, m);
    float grain = 0.0f;
    for (int o = 0; o < n_oct; ++o) {  // octaves in order: the CPU's sums
        const int t = __ldg(trow + o * h + y) + __ldg(tcol + o * w + x);
        grain += __ldg(lrow + o * m) * __ldg(tiles + t);
    }
    const float amp = vf_scene_vcol(ay, hs[ry[0]][lx][4], hs[ry[1]][lx][4], hs[ry[2]][lx][4],
                                    hs[ry[3]][lx][4]);
    const float gain = fmaxf(1.0f + grain * amp, 0.0f) * __ldg(vig_y + y) * __ldg(vig_x + x);
    const int ch = ((y + par_y) & 1) + ((x + par_x) & 1);  // RGGB: 0 R, 1 G, 2 B
    const float v = vf_scene_vcol(ay, hs[ry[0]][lx][ch], hs[ry[1]][lx][ch], hs[ry[2]][lx][ch],
                                  hs[ry[3]][lx][ch]);
    out[(long long)y * w + x] = fmaxf(v, 0.0f) * gain;
}
