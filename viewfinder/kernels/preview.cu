// Fused preview kernels (see vf_preview.cuh). One thread per view pixel.
#include "vf_preview.cuh"

// Raw uint16 mosaic -> view: linear RGB (optional), display RGB (optional), RGBA8.
// site_black / site_scale: 4 floats each, per site of the 2x2 CFA block (see VfRawSource).
extern "C" __global__ void vf_preview_raw(
    const unsigned short* __restrict__ raw, int width, int height, int cfa, int method,
    const float* __restrict__ site_black, const float* __restrict__ site_scale,
    const int* __restrict__ iy, const float* __restrict__ wy, int ty_taps,
    const int* __restrict__ ix, const float* __restrict__ wx, int tx_taps,
    const float* __restrict__ ccm, int curve, float contrast, int view_w, int view_h,
    float* __restrict__ out_linear, float* __restrict__ out_display,
    unsigned char* __restrict__ out_rgba) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= view_h || j >= view_w) return;
    VfRawSource<unsigned short> src{raw,
                                    width,
                                    height,
                                    {site_black[0], site_black[1], site_black[2], site_black[3]},
                                    {site_scale[0], site_scale[1], site_scale[2], site_scale[3]}};
    vf_preview_pixel(src, cfa, method, VfTaps{iy, wy, ty_taps}, VfTaps{ix, wx, tx_taps}, ccm,
                     curve, contrast, i, j, view_w, out_linear, out_display, out_rgba);
}

// Demosaiced (H, W, 3) float32 image (the "hq" path) -> view, same outputs.
extern "C" __global__ void vf_preview_rgb(
    const float* __restrict__ rgb, int width, int height,
    const int* __restrict__ iy, const float* __restrict__ wy, int ty_taps,
    const int* __restrict__ ix, const float* __restrict__ wx, int tx_taps,
    const float* __restrict__ ccm, int curve, float contrast, int view_w, int view_h,
    float* __restrict__ out_linear, float* __restrict__ out_display,
    unsigned char* __restrict__ out_rgba) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= view_h || j >= view_w) return;
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int a = 0; a < ty_taps; ++a) {
        const float w_y = wy[i * ty_taps + a];
        if (w_y == 0.0f) continue;
        const long long row = (long long)iy[i * ty_taps + a] * width;
        for (int b = 0; b < tx_taps; ++b) {
            const float w = w_y * wx[j * tx_taps + b];
            if (w == 0.0f) continue;
            const float* px = rgb + 3 * (row + ix[j * tx_taps + b]);
            acc[0] += w * px[0];
            acc[1] += w * px[1];
            acc[2] += w * px[2];
        }
    }
    const long long p = (long long)i * view_w + j;
    unsigned char* o = out_rgba + 4 * p;
    for (int c = 0; c < 3; ++c) {
        const float lin = ccm[3 * c] * acc[0] + ccm[3 * c + 1] * acc[1] + ccm[3 * c + 2] * acc[2];
        const float d = vf_tone(lin, curve, contrast);
        if (out_linear) out_linear[3 * p + c] = lin;
        if (out_display) out_display[3 * p + c] = d;
        o[c] = vf_to_u8(d);
    }
    o[3] = 255;
}
