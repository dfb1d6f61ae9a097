// Per-pixel maths of the "hq" demosaic: RCD (Ratio Corrected Demosaicing, L. Sanz Rodriguez,
// v2.3) followed by two refining steps of Menon et al. (2007) with a soft direction weight.
// It mirrors viewfinder/stages/demosaic_hq.py operation by operation (same order, float32).
//
// Passes (each a kernel over every pixel; sources read with mirrored borders):
//   A  vf_hq_vh / vf_hq_pq         direction strengths -> scratch planes vh, pq
//   B  vf_hq_green                  G everywhere (ratio-corrected cardinal estimates)
//   C  vf_hq_rb_at_rb               at R/B sites: the known colour and the opposite one
//   D  vf_hq_rb_at_g                R and B at G sites
//   E  vf_hq_refine_green           G at R/B sites          } one kernel: both read other
//   F  vf_hq_refine_rb_at_rb        R at B, B at R sites    } pixels only at G sites
// Passes C..F may run in place on one interleaved RGB buffer: each writes only sites whose
// values no other pixel of the same pass reads.
#pragma once
#include "vf_common.cuh"

#define VF_HQ_EPS 1e-5f
#define VF_HQ_EPSSQ 1e-10f

// Mirror an index into [0, n) (-1 -> 1, n -> n - 2) for offsets up to 2n - 2 beyond the edges:
// the passes reach 4 px, more than one reflection covers on a 4-px-wide frame.
VF_HD int vf_hq_mirror(int i, int n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
    if (i < 0) i = -i;
    return i;
}

// A mosaic of any element type, read as float with mirrored borders (no scaling, no clamp).
template <typename T>
struct VfPlainSource {
    const T* data;
    int width, height;
    VF_HD float operator()(int y, int x) const {
        return (float)data[(long long)vf_hq_mirror(y, height) * width + vf_hq_mirror(x, width)];
    }
};

// One channel of an interleaved float buffer (step floats per pixel), mirrored borders.
struct VfPlane {
    const float* data;
    int width, height, step;
    VF_HD float operator()(int y, int x) const {
        const long long i = (long long)vf_hq_mirror(y, height) * width + vf_hq_mirror(x, width);
        return data[i * step];
    }
};

VF_HD float vf_hq_absf(float a) { return a < 0.0f ? -a : a; }
VF_HD float vf_hq_maxf(float a, float b) { return a > b ? a : b; }

// Squared 7-tap high-pass (1, -3, -1, 6, -1, -3, 1) centred at (y, x) along (sy, sx).
template <class Src>
VF_HD float vf_hq_hpf_sq(const Src& m, int y, int x, int sy, int sx) {
    const float a = (m(y - 3 * sy, x - 3 * sx) - m(y - sy, x - sx) - m(y + sy, x + sx) +
                     m(y + 3 * sy, x + 3 * sx)) -
                    3.0f * (m(y - 2 * sy, x - 2 * sx) + m(y + 2 * sy, x + 2 * sx)) +
                    6.0f * m(y, x);
    return a * a;
}

// Pass A: weight of the horizontal estimate (large where the image varies vertically).
template <class Src>
VF_HD float vf_hq_vh(const Src& m, int y, int x) {
    const float v = vf_hq_maxf(VF_HQ_EPSSQ, vf_hq_hpf_sq(m, y - 1, x, 1, 0) +
                                                vf_hq_hpf_sq(m, y, x, 1, 0) +
                                                vf_hq_hpf_sq(m, y + 1, x, 1, 0));
    const float h = vf_hq_maxf(VF_HQ_EPSSQ, vf_hq_hpf_sq(m, y, x - 1, 0, 1) +
                                                vf_hq_hpf_sq(m, y, x, 0, 1) +
                                                vf_hq_hpf_sq(m, y, x + 1, 0, 1));
    return v / (v + h);
}

// Pass A: weight of the Q (anti-diagonal) estimate (large where P = NW-SE varies).
template <class Src>
VF_HD float vf_hq_pq(const Src& m, int y, int x) {
    const float p = vf_hq_maxf(VF_HQ_EPSSQ, vf_hq_hpf_sq(m, y - 1, x - 1, 1, 1) +
                                                vf_hq_hpf_sq(m, y, x, 1, 1) +
                                                vf_hq_hpf_sq(m, y + 1, x + 1, 1, 1));
    const float q = vf_hq_maxf(VF_HQ_EPSSQ, vf_hq_hpf_sq(m, y - 1, x + 1, 1, -1) +
                                                vf_hq_hpf_sq(m, y, x, 1, -1) +
                                                vf_hq_hpf_sq(m, y + 1, x - 1, 1, -1));
    return p / (p + q);
}

// RCD's refined discrimination: the diagonal mean where it is more decided than the centre.
template <class Src>
VF_HD float vf_hq_disc(const Src& a, int y, int x) {
    const float cen = a(y, x);
    const float nb =
        0.25f * (a(y - 1, x - 1) + a(y - 1, x + 1) + a(y + 1, x - 1) + a(y + 1, x + 1));
    return vf_hq_absf(0.5f - cen) < vf_hq_absf(0.5f - nb) ? nb : cen;
}

// 3x3 binomial low-pass with weights 1, 1/2, 1/4 (sum 4).
template <class Src>
VF_HD float vf_hq_lpf(const Src& m, int y, int x) {
    return m(y, x) + 0.5f * (m(y - 1, x) + m(y + 1, x) + m(y, x - 1) + m(y, x + 1)) +
           0.25f * (m(y - 1, x - 1) + m(y - 1, x + 1) + m(y + 1, x - 1) + m(y + 1, x + 1));
}

// Ratio correction 2 l0 / (l0 + l1): exactly 1 on flat fields in any units; 1 where
// l0 + l1 <= 0 (black or negative input), clamped to [0, 2] (its range for data >= 0).
VF_HD float vf_hq_ratio(float l0, float l1) {
    const float den = l0 + l1;
    return vf_clampf(den > 0.0f ? (2.0f * l0) / den : 1.0f, 0.0f, 2.0f);
}

// Pass B: green at (y, x); the mosaic value itself at G sites.
template <class Src, class Dir>
VF_HD float vf_hq_green(const Src& m, const Dir& vh, int cfa, int y, int x) {
    if (vf_cfa_color(cfa, y, x) == 1) return m(y, x);
    const float c = m(y, x);
    const float n1 = m(y - 1, x), n2 = m(y - 2, x), n3 = m(y - 3, x), n4 = m(y - 4, x);
    const float s1 = m(y + 1, x), s2 = m(y + 2, x), s3 = m(y + 3, x), s4 = m(y + 4, x);
    const float w1 = m(y, x - 1), w2 = m(y, x - 2), w3 = m(y, x - 3), w4 = m(y, x - 4);
    const float e1 = m(y, x + 1), e2 = m(y, x + 2), e3 = m(y, x + 3), e4 = m(y, x + 4);
    float ng = VF_HQ_EPS + vf_hq_absf(n1 - s1) + vf_hq_absf(c - n2);
    ng = ng + vf_hq_absf(n1 - n3) + vf_hq_absf(n2 - n4);
    float sg = VF_HQ_EPS + vf_hq_absf(n1 - s1) + vf_hq_absf(c - s2);
    sg = sg + vf_hq_absf(s1 - s3) + vf_hq_absf(s2 - s4);
    float wg = VF_HQ_EPS + vf_hq_absf(w1 - e1) + vf_hq_absf(c - w2);
    wg = wg + vf_hq_absf(w1 - w3) + vf_hq_absf(w2 - w4);
    float eg = VF_HQ_EPS + vf_hq_absf(w1 - e1) + vf_hq_absf(c - e2);
    eg = eg + vf_hq_absf(e1 - e3) + vf_hq_absf(e2 - e4);
    const float l0 = vf_hq_lpf(m, y, x);
    const float ne = n1 * vf_hq_ratio(l0, vf_hq_lpf(m, y - 2, x));
    const float se = s1 * vf_hq_ratio(l0, vf_hq_lpf(m, y + 2, x));
    const float we = w1 * vf_hq_ratio(l0, vf_hq_lpf(m, y, x - 2));
    const float ee = e1 * vf_hq_ratio(l0, vf_hq_lpf(m, y, x + 2));
    const float v_est = (sg * ne + ng * se) / (ng + sg);
    const float h_est = (wg * ee + eg * we) / (eg + wg);
    const float d = vf_hq_disc(vh, y, x);
    return d * h_est + (1.0f - d) * v_est;
}

// Pass C at an R or B site: the opposite colour from diagonal colour differences
// (m: mosaic, g: green plane of pass B, pq: diagonal weights).
template <class Src, class Pl, class Dir>
VF_HD float vf_hq_rb_at_rb(const Src& m, const Pl& g, const Dir& pq, int y, int x) {
    const float g0 = g(y, x);
    const float a = m(y - 1, x - 1), b = m(y - 1, x + 1), c = m(y + 1, x - 1), e = m(y + 1, x + 1);
    const float nw = VF_HQ_EPS + vf_hq_absf(a - e) + vf_hq_absf(a - m(y - 3, x - 3)) +
                     vf_hq_absf(g0 - g(y - 2, x - 2));
    const float ne = VF_HQ_EPS + vf_hq_absf(b - c) + vf_hq_absf(b - m(y - 3, x + 3)) +
                     vf_hq_absf(g0 - g(y - 2, x + 2));
    const float sw = VF_HQ_EPS + vf_hq_absf(c - b) + vf_hq_absf(c - m(y + 3, x - 3)) +
                     vf_hq_absf(g0 - g(y + 2, x - 2));
    const float se = VF_HQ_EPS + vf_hq_absf(e - a) + vf_hq_absf(e - m(y + 3, x + 3)) +
                     vf_hq_absf(g0 - g(y + 2, x + 2));
    const float nw_e = a - g(y - 1, x - 1);
    const float ne_e = b - g(y - 1, x + 1);
    const float sw_e = c - g(y + 1, x - 1);
    const float se_e = e - g(y + 1, x + 1);
    const float p_est = (nw * se_e + se * nw_e) / (nw + se);
    const float q_est = (ne * sw_e + sw * ne_e) / (ne + sw);
    const float d = vf_hq_disc(pq, y, x);
    return g0 + (1.0f - d) * p_est + d * q_est;
}

// Pass D at a G site for one colour plane xp (complete at R and B sites); d = disc(vh).
template <class Pl>
VF_HD float vf_hq_rb_at_g(const Pl& xp, const Pl& g, float d, int y, int x) {
    const float g0 = g(y, x);
    const float n1 = VF_HQ_EPS + vf_hq_absf(g0 - g(y - 2, x));
    const float s1 = VF_HQ_EPS + vf_hq_absf(g0 - g(y + 2, x));
    const float w1 = VF_HQ_EPS + vf_hq_absf(g0 - g(y, x - 2));
    const float e1 = VF_HQ_EPS + vf_hq_absf(g0 - g(y, x + 2));
    const float xn = xp(y - 1, x), xs = xp(y + 1, x), xw = xp(y, x - 1), xe = xp(y, x + 1);
    const float ng = n1 + vf_hq_absf(xn - xs) + vf_hq_absf(xn - xp(y - 3, x));
    const float sg = s1 + vf_hq_absf(xs - xn) + vf_hq_absf(xs - xp(y + 3, x));
    const float wg = w1 + vf_hq_absf(xw - xe) + vf_hq_absf(xw - xp(y, x - 3));
    const float eg = e1 + vf_hq_absf(xe - xw) + vf_hq_absf(xe - xp(y, x + 3));
    const float n_e = xn - g(y - 1, x);
    const float s_e = xs - g(y + 1, x);
    const float w_e = xw - g(y, x - 1);
    const float e_e = xe - g(y, x + 1);
    const float v_est = (ng * s_e + sg * n_e) / (ng + sg);
    const float h_est = (eg * w_e + wg * e_e) / (eg + wg);
    return g0 + (1.0f - d) * v_est + d * h_est;
}

// Direction-weighted 3-tap mean of a - b: d along the row, 1 - d along the column.
template <class Pl>
VF_HD float vf_hq_mean3(const Pl& a, const Pl& b, float d, int y, int x) {
    const float c = a(y, x) - b(y, x);
    const float h = ((a(y, x - 1) - b(y, x - 1)) + c + (a(y, x + 1) - b(y, x + 1))) *
                    (1.0f / 3.0f);
    const float v = ((a(y - 1, x) - b(y - 1, x)) + c + (a(y + 1, x) - b(y + 1, x))) *
                    (1.0f / 3.0f);
    return d * h + (1.0f - d) * v;
}

// Pass E at an R/B site: refined green from the site's own colour plane xp.
template <class Pl>
VF_HD float vf_hq_refine_green(const Pl& xp, const Pl& g, float d, int y, int x) {
    return xp(y, x) - vf_hq_mean3(xp, g, d, y, x);
}

// Pass F at an R/B site: the opposite colour from the own known value m0.
template <class Pl>
VF_HD float vf_hq_refine_rb_at_rb(float m0, const Pl& own, const Pl& other, float d, int y,
                                  int x) {
    return m0 + vf_hq_mean3(other, own, d, y, x);
}
