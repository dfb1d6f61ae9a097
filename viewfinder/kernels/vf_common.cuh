// Shared helpers for viewfinder kernels. Compiles under nvcc, NVRTC and plain g++.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define VF_HD __host__ __device__ __forceinline__
#else
#include <cmath>
#include <cstdint>
#define VF_HD inline
#endif

// CFA codes, the same order as viewfinder.frame.CFA_PATTERNS.
#define VF_CFA_RGGB 0
#define VF_CFA_BGGR 1
#define VF_CFA_GRBG 2
#define VF_CFA_GBRG 3

VF_HD float vf_clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
VF_HD int vf_mini(int a, int b) { return a < b ? a : b; }
VF_HD int vf_maxi(int a, int b) { return a > b ? a : b; }

// Mirror an index into [0, n): -1 -> 1, n -> n - 2. Keeps the CFA parity of the index.
VF_HD int vf_mirror(int i, int n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
    return vf_maxi(0, vf_mini(i, n - 1));
}

// Colour (0 = R, 1 = G, 2 = B) of the site at (y, x) for CFA code `cfa`.
// Every pattern is RGGB shifted by (dy, dx): BGGR (1, 1), GRBG (0, 1), GBRG (1, 0).
VF_HD int vf_cfa_color(int cfa, int y, int x) {
    const int yy = (y + (cfa == VF_CFA_BGGR || cfa == VF_CFA_GBRG)) & 1;
    const int xx = (x + (cfa == VF_CFA_BGGR || cfa == VF_CFA_GRBG)) & 1;
    return yy != xx ? 1 : (yy ? 2 : 0);
}

// sRGB encoding of a linear value in [0, 1].
VF_HD float vf_srgb_encode(float v) {
    v = vf_clampf(v, 0.0f, 1.0f);
    return v <= 0.0031308f ? 12.92f * v : 1.055f * powf(v, 1.0f / 2.4f) - 0.055f;
}

// Rec. 709 luma weights of linear or encoded RGB.
VF_HD float vf_luma(float r, float g, float b) { return 0.2126f * r + 0.7152f * g + 0.0722f * b; }

// A mosaic source that reads raw DN, subtracts the site's black level, scales by the site's
// gain / range and clips to [0, 1]: the "normalise + white balance + clamp" stage done on the
// fly. Black and scale are per site of the 2x2 CFA block, index (y & 1) * 2 + (x & 1) (some
// cameras' black levels differ per site; the scale is gain * 2^ev / (white - black[site])),
// as RawScaling.site_blacks() / site_scales() give them, row by row.
template <typename T>
struct VfRawSource {
    const T* raw;
    int width, height;
    float black[4], scale[4];
    VF_HD float operator()(int y, int x) const {
        y = vf_mirror(y, height);
        x = vf_mirror(x, width);
        const int k = ((y & 1) << 1) | (x & 1);
        return vf_clampf(((float)raw[(long long)y * width + x] - black[k]) * scale[k], 0.0f,
                         1.0f);
    }
};

// A mosaic source over already-normalised float32 values (no clipping).
struct VfFloatSource {
    const float* data;
    int width, height;
    VF_HD float operator()(int y, int x) const {
        return data[(long long)vf_mirror(y, height) * width + vf_mirror(x, width)];
    }
};
