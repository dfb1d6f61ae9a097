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
