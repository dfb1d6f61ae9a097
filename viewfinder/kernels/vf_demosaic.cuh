// Per-pixel demosaicing maths, shared by the CUDA kernels and the g++ test shim.
// `Src` is any functor float(int y, int x) that reads the normalised mosaic with mirrored
// borders (VfRawSource, VfFloatSource). Output: linear RGB of the site at (y, x).
#pragma once
#include "vf_common.cuh"

// Bilinear: the mean of the nearest same-colour sites (the 3x3 kernels of the literature).
template <class Src>
VF_HD void vf_demosaic_bilinear(const Src& m, int cfa, int y, int x, float* rgb) {
    const int c = vf_cfa_color(cfa, y, x);
    const float centre = m(y, x);
    const float cross = 0.25f * (m(y - 1, x) + m(y + 1, x) + m(y, x - 1) + m(y, x + 1));
    const float diag =
        0.25f * (m(y - 1, x - 1) + m(y - 1, x + 1) + m(y + 1, x - 1) + m(y + 1, x + 1));
    const float horiz = 0.5f * (m(y, x - 1) + m(y, x + 1));
    const float vert = 0.5f * (m(y - 1, x) + m(y + 1, x));
    // Selects, not rgb[c] = ...: a run-time index would put rgb in local memory on the GPU.
    if (c == 1) {
        // Green site: R and B lie either left/right or above/below.
        const bool red_row = vf_cfa_color(cfa, y, x + 1) == 0;
        rgb[1] = centre;
        rgb[0] = red_row ? horiz : vert;
        rgb[2] = red_row ? vert : horiz;
    } else {
        rgb[0] = c == 0 ? centre : diag;
        rgb[1] = cross;
        rgb[2] = c == 0 ? diag : centre;
    }
}

// Malvar, He and Cutler (2004): bilinear corrected by the Laplacian of the site's own colour.
template <class Src>
VF_HD void vf_demosaic_mhc(const Src& m, int cfa, int y, int x, float* rgb) {
    const int c = vf_cfa_color(cfa, y, x);
    const float p = m(y, x);
    const float n1 = m(y - 1, x), s1 = m(y + 1, x), w1 = m(y, x - 1), e1 = m(y, x + 1);
    const float n2 = m(y - 2, x), s2 = m(y + 2, x), w2 = m(y, x - 2), e2 = m(y, x + 2);
    const float diag = m(y - 1, x - 1) + m(y - 1, x + 1) + m(y + 1, x - 1) + m(y + 1, x + 1);
    if (c == 1) {
        // Colour on the left/right neighbours (kernel of weights 5, 4, -1, -1 diag, +1/2 vert).
        const float h = (5.0f * p + 4.0f * (w1 + e1) - (w2 + e2) - diag + 0.5f * (n2 + s2)) *
                        0.125f;
        // Colour on the up/down neighbours: the transposed kernel.
        const float v = (5.0f * p + 4.0f * (n1 + s1) - (n2 + s2) - diag + 0.5f * (w2 + e2)) *
                        0.125f;
        const bool red_row = vf_cfa_color(cfa, y, x + 1) == 0;
        rgb[1] = p;
        rgb[0] = red_row ? h : v;
        rgb[2] = red_row ? v : h;
    } else {
        const float g = (4.0f * p + 2.0f * (n1 + s1 + w1 + e1) - (n2 + s2 + w2 + e2)) * 0.125f;
        const float o = (6.0f * p + 2.0f * diag - 1.5f * (n2 + s2 + w2 + e2)) * 0.125f;
        rgb[0] = c == 0 ? p : o;  // selects: no run-time index into rgb
        rgb[1] = g;
        rgb[2] = c == 0 ? o : p;
    }
}
