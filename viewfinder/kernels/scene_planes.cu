// The planes scene's compositing pass on the device: the RGGB mosaic (h, w) float32 of
// photo-electron rates, written straight from the planes' blurred grids (uploaded per change,
// kept on the device) with no full-size intermediate. The maths is scene_grid._planes_pass,
// per pixel, in the same order (vf_scene.cuh):
//   - near to far, "under": each plane adds its colour times what the nearer ones let
//     through, and the pixel stops once they let less than VF_PLANES_OPAQUE through;
//   - a plane's grid is upsampled bilinearly (cell centres aligned with the blocks of g x g
//     pixels they cover): the two grid rows blended, the edge mode's colour over its alpha,
//     the output channel of the colour matrix, then the two cells;
//   - the edge mode's alpha is the rectangle's coverage (row times column profile, blurred
//     by the line spread on the host) and its surface grain scales it;
//   - times the separable vignetting; the RGGB site of (y0 + y, x0 + x) picks the channel.
// The grids stay where they were uploaded (kept per grid and blur): the kernel finds each
// plane's through a table of device addresses, no gathered copy.
// Schedule: a thread per pixel, a block 32 columns x 8 rows (each warp writes 32 contiguous
// floats). The cell taps and weights (and the grain tile's and the edge profiles') are host
// tables per plane and row (one value a warp: broadcast) and per plane and column (planar:
// coalesced): the CPU's own float64 positions, no division or floor in the kernel. A block
// visits only the planes whose reach meets it: the bits of its block row's mask and its
// block column's mask (host tables; a plane's reach is a rectangle), lowest bit (nearest)
// first; the grids, tables and tiles stay in L1/L2 (a few cells a block).
#include "vf_scene.cuh"

#define VF_PLANES_BX 32
#define VF_PLANES_BY 8
// Ints a plane in `pint`: mode (1 edge), channels (2 or 4), reach rows y0, y1 and columns
// x0, x1 (window coordinates), grain (1: on).
#define VF_PLANES_NI 8
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define VF_PLANES_BOUNDS __launch_bounds__(VF_PLANES_BX * VF_PLANES_BY)
#else
#define VF_PLANES_BOUNDS
#endif

// grids: (n,) device addresses of the planes' blurred grids, (gh, gw, ch) float32 each.
// pint: (n, VF_PLANES_NI); amp: (n,) grain amplitude. rows_i: (n, h, 4) the two grid rows'
// offsets in the plane's grid and the grain's two tile rows' offsets in `tiles`; rows_f:
// (n, h, 3) the second grid row's weight, the edge mode's row coverage, the second tile
// row's weight. cols_i: (n, 4, w) planar: the two cells' offsets in a grid row, the two tile
// columns; cols_f: (n, 3, w): the second cell's weight, the column coverage, the second tile
// column's weight. m: (3, 3) colour matrix. par_y, par_x: the parity of the window origin
// (y0, x0). row_mask: (gridDim.y,), col_mask: (gridDim.x,): bit p set where plane p's reach
// meets the block's rows (columns); n <= 32 planes.
extern "C" __global__ void VF_PLANES_BOUNDS vf_scene_planes(
    const long long* __restrict__ grids, const int* __restrict__ pint,
    const float* __restrict__ amp, const int* __restrict__ rows_i,
    const float* __restrict__ rows_f, const int* __restrict__ cols_i,
    const float* __restrict__ cols_f, const float* __restrict__ tiles,
    const float* __restrict__ m, const float* __restrict__ vig_y,
    const float* __restrict__ vig_x, int par_y, int par_x, const int* __restrict__ row_mask,
    const int* __restrict__ col_mask, float* __restrict__ out, int w, int h) {
    const int bx0 = blockIdx.x * VF_PLANES_BX, by0 = blockIdx.y * VF_PLANES_BY;
    const int x = bx0 + threadIdx.x, y = by0 + threadIdx.y;
    if (x >= w || y >= h) return;  // no barrier below
    const int c = ((y + par_y) & 1) + ((x + par_x) & 1);  // RGGB: 0 R, 1 G, 2 B
    const float m0 = __ldg(m + 3 * c), m1 = __ldg(m + 3 * c + 1), m2 = __ldg(m + 3 * c + 2);
    float t = 1.0f, acc = 0.0f;
    // the planes whose reach meets this block, near to far (uniform across the block)
    unsigned planes =
        (unsigned)__ldg(row_mask + blockIdx.y) & (unsigned)__ldg(col_mask + blockIdx.x);
    while (planes) {
        const int p = __ffs((int)planes) - 1;
        planes &= planes - 1;
        const int* pp = pint + VF_PLANES_NI * p;
        const int ry0 = __ldg(pp + 2), ry1 = __ldg(pp + 3);
        const int rx0 = __ldg(pp + 4), rx1 = __ldg(pp + 5);
        if (y < ry0 || y >= ry1 || x < rx0 || x >= rx1) continue;
        const float* grid = reinterpret_cast<const float*>(__ldg(grids + p));
        const bool edge = __ldg(pp) == 1;
        const int ch = __ldg(pp + 1);
        const long long r = (long long)p * h + y;  // this plane's row entry
        const int b0 = __ldg(rows_i + 4 * r), b1 = __ldg(rows_i + 4 * r + 1);
        const float fy = __ldg(rows_f + 3 * r);
        const long long cx = (long long)p * 4 * w + x;  // this plane's column entries
        const int q0 = __ldg(cols_i + cx), q1 = __ldg(cols_i + cx + w);
        const long long fx_at = (long long)p * 3 * w + x;
        const float fx = __ldg(cols_f + fx_at);
        const float gy = 1.0f - fy, gx = 1.0f - fx;
        float a0, a1;
        const float v0 =
            vf_planes_cell(grid + b0 + q0, grid + b1 + q0, gy, fy, ch, edge, m0, m1, m2, &a0);
        const float v1 =
            vf_planes_cell(grid + b0 + q1, grid + b1 + q1, gy, fy, ch, edge, m0, m1, m2, &a1);
        float alpha, scale;
        if (edge) {  // the grid's colour, the edges' alpha
            alpha = __ldg(rows_f + 3 * r + 1) * __ldg(cols_f + fx_at + w);
            scale = t * alpha;
            if (__ldg(pp + 6) == 1) {
                const float gr = vf_planes_grain(
                    tiles, __ldg(rows_i + 4 * r + 2), __ldg(rows_i + 4 * r + 3),
                    __ldg(rows_f + 3 * r + 2), __ldg(cols_i + cx + 2 * w),
                    __ldg(cols_i + cx + 3 * w), __ldg(cols_f + fx_at + 2 * w));
                scale *= 1.0f + __ldg(amp + p) * gr;
            }
        } else {
            alpha = gx * a0 + fx * a1;
            scale = t;
        }
        acc += scale * (gx * v0 + fx * v1);
        t = t * (1.0f - alpha);
        if (t < VF_PLANES_OPAQUE) break;  // nothing farther shows
    }
    out[(long long)y * w + x] = acc * (__ldg(vig_y + y) * __ldg(vig_x + x));
}
