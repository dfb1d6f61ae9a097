// Per-pixel maths of the depth-photograph scene's sensor pass (scene.cu): the RGGB mosaic of
// photo-electron rates from the defocused work grid, as viewfinder/sources/scene_depth.py's
// _rows_pass_planar + _mosaic_pass compute it (the same sums in the same order).
// Compiles under nvcc, NVRTC and g++.
#pragma once
#include "vf_common.cuh"

// Blur-circle diameters of the grain transfer LUT: steps of 1/VF_SCENE_LUT_STEPS sensor px
// (scene_depth.LUT_STEPS).
#define VF_SCENE_LUT_STEPS 8.0f

// v mod p for 0 <= v < 2^22 and 0 < p < 2^16, with inv_p = 1.0f / p from the host: a float
// multiply and one correction instead of an integer division (the float quotient is off by
// at most one).
VF_HD int vf_scene_wrap(int v, int p, float inv_p) {
    const int q = (int)((float)v * inv_p);
    int r = v - q * p;
    if (r < 0) r += p;
    if (r >= p) r -= p;
    return r;
}

// Horizontal Keys cubic of one work row at the four column taps i with weights b, summed
// left to right (_rows_pass_planar's order).
VF_HD float vf_scene_hrow(const float* row, const int* i, const float* b) {
    return b[0] * row[i[0]] + b[1] * row[i[1]] + b[2] * row[i[2]] + b[3] * row[i[3]];
}

// The vertical cubic of plane `plane` (rows of `ww` floats, `plane_stride` floats a plane):
// rows r with weights a of the horizontally resampled rows.
VF_HD float vf_scene_sample(const float* planes, long long plane_stride, int ww, int plane,
                            const int* r, const float* a, const int* i, const float* b) {
    const float* p = planes + plane * plane_stride;
    return a[0] * vf_scene_hrow(p + (long long)r[0] * ww, i, b) +
           a[1] * vf_scene_hrow(p + (long long)r[1] * ww, i, b) +
           a[2] * vf_scene_hrow(p + (long long)r[2] * ww, i, b) +
           a[3] * vf_scene_hrow(p + (long long)r[3] * ww, i, b);
}

// Index of the grain LUT for a resampled blur circle c (work px): round(c * coc_scale * 8),
// at most m - 1 (whose entries are 0).
VF_HD int vf_scene_lut_index(float c, float coc_scale, int m) {
    const int k = (int)((c > 0.0f ? c : 0.0f) * coc_scale * VF_SCENE_LUT_STEPS + 0.5f);
    return vf_mini(k, m - 1);
}
