// Per-pixel maths of the depth-photograph scene's sensor pass (scene.cu): the RGGB mosaic of
// photo-electron rates from the defocused work grid, as viewfinder/sources/scene_depth.py's
// _rows_pass_planar + _mosaic_pass compute it (the same sums in the same order).
// Compiles under nvcc, NVRTC and g++.
#pragma once
#include "vf_common.cuh"

// Blur-circle diameters of the grain transfer LUT: steps of 1/VF_SCENE_LUT_STEPS sensor px
// (scene_depth.LUT_STEPS).
#define VF_SCENE_LUT_STEPS 8.0f
// Planes of the work grid, interleaved per work pixel: R, G, B (crosstalk applied), the blur
// circle (work px) and the grain's amplitude.
#define VF_SCENE_PLANES 5

// Horizontal Keys cubic of plane c of one work row (interleaved, VF_SCENE_PLANES floats a
// pixel) at the four column taps i with weights b, summed left to right (_rows_pass_planar).
VF_HD float vf_scene_hrow(const float* row, const int* i, const float* b, int c) {
    return b[0] * row[VF_SCENE_PLANES * i[0] + c] + b[1] * row[VF_SCENE_PLANES * i[1] + c] +
           b[2] * row[VF_SCENE_PLANES * i[2] + c] + b[3] * row[VF_SCENE_PLANES * i[3] + c];
}

// The vertical Keys cubic of four horizontally resampled values v (rows r) with weights a,
// summed top to bottom (_mosaic_pass).
VF_HD float vf_scene_vcol(const float* a, float v0, float v1, float v2, float v3) {
    return a[0] * v0 + a[1] * v1 + a[2] * v2 + a[3] * v3;
}

// Index of the grain LUT for a resampled blur circle c (work px): round(c * coc_scale * 8),
// at most m - 1 (whose entries are 0).
VF_HD int vf_scene_lut_index(float c, float coc_scale, int m) {
    const int k = (int)((c > 0.0f ? c : 0.0f) * coc_scale * VF_SCENE_LUT_STEPS + 0.5f);
    return vf_mini(k, m - 1);
}

// ----- the planes scene (scene_planes.cu): scene_grid._planes_pass per pixel ---------------

// A plane stops the pass going farther once it lets less than this through (scene_grid.OPAQUE).
#define VF_PLANES_OPAQUE 1e-6f
// Side of the surface grain's tile (scene_grid._TILE_SIDE).
#define VF_PLANES_TILE 128

// One cell of a plane's grid blended between its two grid rows (b0, b1: the cell in each,
// weights gy, fy), as _planes_pass blends a grid row: ch 4 premultiplied RGBA, ch 2 grey
// (value, alpha: r = g = b); the edge mode's colour over its alpha; then the output's
// channel (m0, m1, m2: its row of the colour matrix). The blended alpha in *alpha.
VF_HD float vf_planes_cell(const float* b0, const float* b1, float gy, float fy, int ch,
                           bool edge, float m0, float m1, float m2, float* alpha) {
    float cr, cg, cb, ca;
    if (ch == 2) {
        cr = gy * b0[0] + fy * b1[0];
        cg = cb = cr;
        ca = gy * b0[1] + fy * b1[1];
    } else {
        cr = gy * b0[0] + fy * b1[0];
        cg = gy * b0[1] + fy * b1[1];
        cb = gy * b0[2] + fy * b1[2];
        ca = gy * b0[3] + fy * b1[3];
    }
    if (edge) {  // one reciprocal, as the CPU's
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
        // MUFU.RCP and a multiply (within 2 ulp; the IEEE reciprocal's range checks and slow
        // path were 31 of the 190 instructions of a composited plane on sm_90)
        const float inv = __fdividef(1.0f, fmaxf(ca, 1e-12f));
#else
        const float inv = 1.0f / (ca > 1e-12f ? ca : 1e-12f);
#endif
        cr *= inv;
        cg *= inv;
        cb *= inv;
    }
    *alpha = ca;
    return m0 * cr + m1 * cg + m2 * cb;
}

// The surface grain's tile bilinearly at tile rows t0, t1 (offsets of the rows in the
// tiles, weight fv of t1) and columns u0, u1 (weight fu of u1).
VF_HD float vf_planes_grain(const float* tiles, int t0, int t1, float fv, int u0, int u1,
                            float fu) {
    const float top = (1.0f - fu) * tiles[t0 + u0] + fu * tiles[t0 + u1];
    const float bot = (1.0f - fu) * tiles[t1 + u0] + fu * tiles[t1 + u1];
    return (1.0f - fv) * top + fv * bot;
}
