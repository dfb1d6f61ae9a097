// The fused preview: raw mosaic -> view pixel, with no full-size RGB image in memory.
// One call computes one view pixel: demosaic every sensor pixel of its footprint, average them
// with area weights, apply the colour matrix, then the tone curve.
#pragma once
#include "vf_common.cuh"
#include "vf_demosaic.cuh"

#define VF_METHOD_BILINEAR 0
#define VF_METHOD_MHC 1

#define VF_TONE_SRGB 0
#define VF_TONE_LINEAR 1
#define VF_TONE_CONTRAST 2

// Area taps of view row/column `i`: `taps` (index, weight) pairs, weight 0 on padding.
struct VfTaps {
    const int* index;
    const float* weight;
    int taps;
};

// Linear sRGB of view pixel (i, j): area mean of demosaiced sensor pixels, then matrix.
template <class Src>
VF_HD void vf_view_linear(const Src& m, int cfa, int method, VfTaps ty, VfTaps tx, int i, int j,
                          const float* ccm, float* out) {
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int a = 0; a < ty.taps; ++a) {
        const float wy = ty.weight[i * ty.taps + a];
        if (wy == 0.0f) continue;
        const int y = ty.index[i * ty.taps + a];
        for (int b = 0; b < tx.taps; ++b) {
            const float w = wy * tx.weight[j * tx.taps + b];
            if (w == 0.0f) continue;
            const int x = tx.index[j * tx.taps + b];
            float rgb[3];
            if (method == VF_METHOD_MHC) {
                vf_demosaic_mhc(m, cfa, y, x, rgb);
            } else {
                vf_demosaic_bilinear(m, cfa, y, x, rgb);
            }
            acc[0] += w * rgb[0];
            acc[1] += w * rgb[1];
            acc[2] += w * rgb[2];
        }
    }
    for (int c = 0; c < 3; ++c) {
        out[c] = ccm[3 * c] * acc[0] + ccm[3 * c + 1] * acc[1] + ccm[3 * c + 2] * acc[2];
    }
}

// Display value in [0, 1] of a linear value, as viewfinder.stages.tone.tone.
VF_HD float vf_tone(float v, int curve, float contrast) {
    if (curve == VF_TONE_LINEAR) return vf_clampf(v, 0.0f, 1.0f);
    float e = vf_srgb_encode(v);
    if (curve == VF_TONE_CONTRAST) e = e + contrast * (e * e * (3.0f - 2.0f * e) - e);
    return e;
}

VF_HD unsigned char vf_to_u8(float v) {
    return (unsigned char)(vf_clampf(v, 0.0f, 1.0f) * 255.0f + 0.5f);
}

// Everything one thread of vf_preview_raw does for view pixel (i, j): write linear and
// display RGB (either may be null) and RGBA8.
template <class Src>
VF_HD void vf_preview_pixel(const Src& m, int cfa, int method, VfTaps ty, VfTaps tx,
                            const float* ccm, int curve, float contrast, int i, int j, int view_w,
                            float* out_linear, float* out_display, unsigned char* out_rgba) {
    float lin[3];
    vf_view_linear(m, cfa, method, ty, tx, i, j, ccm, lin);
    const long long p = (long long)i * view_w + j;
    unsigned char* o = out_rgba + 4 * p;
    for (int c = 0; c < 3; ++c) {
        const float d = vf_tone(lin[c], curve, contrast);
        if (out_linear) out_linear[3 * p + c] = lin[c];
        if (out_display) out_display[3 * p + c] = d;
        o[c] = vf_to_u8(d);
    }
    o[3] = 255;
}
