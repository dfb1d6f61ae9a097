// Per-pixel maths of the viewfinder assists (peaking, pooling, zebra, scopes, compositing),
// shared by kernels/assists.cu and histogram.cu and by the g++ test shim. The NumPy
// references are in viewfinder/stages/{peaking,zebra,falsecolor,scopes,histogram}.py.
#pragma once
#include "vf_common.cuh"

// Zebra / pooled flag bits (the pooled map carries the peaking level in bits 0-1).
#define VF_ZEBRA_OVER 1
#define VF_ZEBRA_UNDER 2
#define VF_ZEBRA_R 4
#define VF_ZEBRA_G 8
#define VF_ZEBRA_B 16
#define VF_ZEBRA_RAW 32
#define VF_POOL_LEVEL_MASK 3
#define VF_POOL_RAW_CLIP 4

// Float multiply-add with no FMA contraction, so CUDA rounds like NumPy and the shim.
VF_HD float vf_mul_add_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(__fmul_rn(a, b), c);
#else
    volatile float p = a * b;
    return p + c;
#endif
}

// 3x3 binomial (1 2 1)/4 x (1 2 1)/4 of a stabilised mosaic; `Src` reads with mirrored borders.
// Summed as the separable filter: vertical first, then horizontal, like the references.
template <class Src>
VF_HD float vf_peak_binomial(const Src& t, int y, int x) {
    float col[3];
    for (int i = 0; i < 3; ++i) {
        const int xx = x + i - 1;
        col[i] = 0.25f * t(y - 1, xx) + 0.5f * t(y, xx) + 0.25f * t(y + 1, xx);
    }
    return 0.25f * col[0] + 0.5f * col[1] + 0.25f * col[2];
}

// darktable-style sharpness: L1 gradient magnitudes (principal + diagonal) at distance 1
// minus `far` times the same at distance 2, halved, clipped at 0. `L` reads luma with mirrored borders.
template <class Src>
VF_HD float vf_peak_score(const Src& L, int y, int x, float far) {
    float g[2];
    for (int k = 0; k < 2; ++k) {
        const int d = k + 1;
        g[k] = fabsf(L(y, x + d) - L(y, x - d)) + fabsf(L(y + d, x) - L(y - d, x)) +
               fabsf(L(y + d, x + d) - L(y - d, x - d)) + fabsf(L(y + d, x - d) - L(y - d, x + d));
    }
    const float score = 0.5f * (g[0] - far * g[1]);
    return score > 0.0f ? score : 0.0f;  // negative lobes beside a crisp step must not cancel it
}

// 3x3 box mean of the score, then the level 0..3: level k where the mean exceeds
// max(t_k, 2^(k-1) f), f = fg * max(lum(y, x), 0) the Weber-contrast floor. Sites within 2 of
// the frame's border (`height` x `width`) get 0: their distance-2 taps are mirrored, so a
// ramp there would look like a sharp ridge.
template <class Src, class Lum>
VF_HD int vf_peak_level(const Src& score, const Lum& lum, int y, int x, int height, int width,
                        float t1, float t2, float t3, float fg) {
    if (y < 2 || x < 2 || y >= height - 2 || x >= width - 2) return 0;
    float col[3];
    for (int i = 0; i < 3; ++i) {
        const int xx = x + i - 1;
        col[i] = score(y - 1, xx) + score(y, xx) + score(y + 1, xx);
    }
    const float v = (col[0] + col[1] + col[2]) * (1.0f / 9.0f);
    const float l = lum(y, x);
    const float f = fg * (l > 0.0f ? l : 0.0f);
    return (v > fmaxf(t1, f)) + (v > fmaxf(t2, 2.0f * f)) + (v > fmaxf(t3, 4.0f * f));
}

// Source range [*start, *stop) of pooled cell j when `src` samples pool onto `dst` cells.
// 32-bit unsigned arithmetic: j * src < 2**32 for any view and frame side up to 65536.
VF_HD void vf_pool_range(int j, int src, int dst, int* start, int* stop) {
    const unsigned s = (unsigned)j * (unsigned)src / (unsigned)dst;
    const unsigned e = (unsigned)(j + 1) * (unsigned)src / (unsigned)dst;
    *start = (int)s;
    *stop = (int)(e > s ? e : s + 1);
}

// Rec. 709 luma of 8-bit display values, in integers: (54 R + 183 G + 19 B + 128) >> 8.
VF_HD int vf_luma8(int r, int g, int b) { return (54 * r + 183 * g + 19 * b + 128) >> 8; }

// Zebra flags of one view pixel. over_t / under_t: 8-bit luma thresholds (under_t < 0: off);
// rgb: also flag each channel >= over_t; raw_clip: the pooled raw-clip bit.
VF_HD int vf_zebra_flags(int r, int g, int b, int over_t, int under_t, int rgb, int raw_clip,
                         int over_on) {
    const int l = vf_luma8(r, g, b);
    int f = 0;
    if (over_on && l >= over_t) f |= VF_ZEBRA_OVER;
    if (under_t >= 0 && l <= under_t) f |= VF_ZEBRA_UNDER;
    if (rgb) {
        if (r >= over_t) f |= VF_ZEBRA_R;
        if (g >= over_t) f |= VF_ZEBRA_G;
        if (b >= over_t) f |= VF_ZEBRA_B;
    }
    if (raw_clip) f |= VF_ZEBRA_RAW;
    return f;
}

// Diagonal stripes: band index (x + y + phase) / width; even bands are "on".
VF_HD int vf_stripe_on(int x, int y, int phase, int width) {
    return (((x + y + phase) / width) & 1) == 0;
}

// Zebra stripe colour of `flags`: writes it and returns 1 on an "on" stripe of a flagged
// pixel, else returns 0 (the image shows between stripes). Priority: raw clip (orange), then
// the RGB clip combination (its additive colour; all three: black), then luma over (black),
// then under (blue). Black stripes read on the near-white areas that over-exposure flags.
VF_HD int vf_zebra_colour(int flags, int on, unsigned char* rgb) {
    if (!on || !flags) return 0;
    int c0 = 0, c1 = 0, c2 = 0;
    if (flags & VF_ZEBRA_RAW) {
        c0 = 255; c1 = 128;
    } else if (flags & (VF_ZEBRA_R | VF_ZEBRA_G | VF_ZEBRA_B)) {
        const int all = VF_ZEBRA_R | VF_ZEBRA_G | VF_ZEBRA_B;
        if ((flags & all) != all) {
            c0 = (flags & VF_ZEBRA_R) ? 255 : 0;
            c1 = (flags & VF_ZEBRA_G) ? 255 : 0;
            c2 = (flags & VF_ZEBRA_B) ? 255 : 0;
        }
    } else if (flags & VF_ZEBRA_UNDER) {
        c1 = 80; c2 = 255;
    }
    rgb[0] = (unsigned char)c0; rgb[1] = (unsigned char)c1; rgb[2] = (unsigned char)c2;
    return 1;
}

// Peaking blend weights (of 256) of levels 1..3.
VF_HD int vf_peak_alpha(int level) { return level <= 0 ? 0 : (level == 1 ? 128 : (level == 2 ? 192 : 256)); }

VF_HD int vf_blend8(int base, int colour, int a) { return (base * (256 - a) + colour * a + 128) >> 8; }

// Composite one view pixel in place. rgb: the clean pixel (in), the shown pixel (out).
// fc: false-colour RGB of the pixel or null; peak_mode 0 colour-over-image, 1 over grey.
VF_HD void vf_composite(unsigned char* rgb, const unsigned char* fc, int level,
                        const unsigned char* peak_rgb, int peak_mode, int zebra_flags, int on) {
    int p[3] = {rgb[0], rgb[1], rgb[2]};
    if (fc) { p[0] = fc[0]; p[1] = fc[1]; p[2] = fc[2]; }
    if (peak_rgb && peak_mode == 1) {
        const int l = vf_luma8(p[0], p[1], p[2]);
        p[0] = l; p[1] = l; p[2] = l;
    }
    if (peak_rgb && level > 0) {
        const int a = vf_peak_alpha(level);
        for (int c = 0; c < 3; ++c) p[c] = vf_blend8(p[c], peak_rgb[c], a);
    }
    unsigned char z[3];
    if (zebra_flags && vf_zebra_colour(zebra_flags, on, z)) {
        p[0] = z[0]; p[1] = z[1]; p[2] = z[2];
    }
    rgb[0] = (unsigned char)p[0]; rgb[1] = (unsigned char)p[1]; rgb[2] = (unsigned char)p[2];
}

// Vectorscope cell of an 8-bit pixel: Cb, Cr (BT.709) scaled so [-0.5, 0.5] spans n cells.
// ku = n / (256 * 255 * 1.8556), kv = n / (256 * 255 * 1.5748) (computed on the host).
VF_HD void vf_vectorscope_cell(int r, int g, int b, int n, float ku, float kv, int* u, int* v) {
    const int yw = 54 * r + 183 * g + 19 * b;
    const float half = 0.5f * (float)n;
    const int uu = (int)floorf(vf_mul_add_rn((float)(256 * b - yw), ku, half));
    const int vv = (int)floorf(vf_mul_add_rn((float)(256 * r - yw), kv, half));
    *u = vf_maxi(0, vf_mini(uu, n - 1));
    *v = vf_maxi(0, vf_mini(vv, n - 1));
}

// Site index (0 R, 1 Gr, 2 Gb, 3 B) of (y, x) for CFA code `cfa`.
VF_HD int vf_cfa_site(int cfa, int y, int x) {
    const int c = vf_cfa_color(cfa, y, x);
    if (c != 1) return c == 0 ? 0 : 3;
    // a green on the row that holds red is Gr
    return vf_cfa_color(cfa, y, x ^ 1) == 0 ? 1 : 2;
}

// Histogram bins (site * nbins + value, values clamped to nbins - 1) of the two samples of one
// little-endian 32-bit word of an even-width uint16 row: the even column in the low half.
VF_HD void vf_hist_pair(unsigned int two, int odd_row, int cfa, int nbins, int* a, int* b) {
    const unsigned int top = (unsigned int)nbins - 1u;
    unsigned int v0 = two & 0xFFFFu, v1 = two >> 16;
    v0 = v0 < top ? v0 : top;
    v1 = v1 < top ? v1 : top;
    *a = vf_cfa_site(cfa, odd_row, 0) * nbins + (int)v0;
    *b = vf_cfa_site(cfa, odd_row, 1) * nbins + (int)v1;
}
