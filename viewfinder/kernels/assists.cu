// Viewfinder assists on the GPU: focus peaking at sensor resolution (three passes), pooling
// to the view with the raw-clip flag, and one pass per view pixel for the scopes, zebra,
// false colour and the composite. Maths in vf_assists.cuh; references in viewfinder/stages.
#include "vf_assists.cuh"

struct VfLutSource {  // stabilised value of the raw site at (y, x), mirrored borders
    const unsigned short* raw;
    const float* lut;
    int width, height, top;
    VF_HD float operator()(int y, int x) const {
        const int v = raw[(long long)vf_mirror(y, height) * width + vf_mirror(x, width)];
        return lut[v < top ? v : top];
    }
};

// Pass 1: stabilised luma lum = binomial(lut[raw]), (H, W) float32.
extern "C" __global__ void vf_peak_luma(const unsigned short* raw, int width, int height,
                                        const float* lut, int nlut, float* lum) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    const VfLutSource src{raw, lut, width, height, nlut - 1};
    lum[(long long)y * width + x] = vf_peak_binomial(src, y, x);
}

// Pass 2: sharpness score, (H, W) float32.
extern "C" __global__ void vf_peak_score(const float* lum, int width, int height, float far,
                                         float* score) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    const VfFloatSource src{lum, width, height};
    score[(long long)y * width + x] = vf_peak_score(src, y, x, far);
}

// Pass 3, per view pixel: max over its sensor block of the peaking level (box + thresholds)
// in bits 0-1, and bit 2 where a photosite of the block reaches `white` (raw zebra).
extern "C" __global__ void vf_peak_pool(const float* score, const float* lum,
                                        const unsigned short* raw, int width, int height, int vw,
                                        int vh, int do_peak, float t1, float t2, float t3,
                                        float fg, int do_raw, float white,
                                        unsigned char* pooled) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (j >= vw || i >= vh) return;
    int y0, y1, x0, x1;
    vf_pool_range(i, height, vh, &y0, &y1);
    vf_pool_range(j, width, vw, &x0, &x1);
    const VfFloatSource src{score, width, height};
    const VfFloatSource lsrc{lum, width, height};
    int level = 0, clip = 0;
    for (int y = y0; y < y1; ++y) {
        for (int x = x0; x < x1; ++x) {
            if (do_peak && level < 3) level = vf_maxi(level, vf_peak_level(src, lsrc, y, x, height, width, t1, t2, t3, fg));
            if (do_raw && !clip) clip = (float)raw[(long long)y * width + x] >= white;
        }
    }
    pooled[(long long)i * vw + j] = (unsigned char)(level | (clip ? VF_POOL_RAW_CLIP : 0));
}

// One pass per view pixel: view histogram (shared-memory bins), waveform, parade and
// vectorscope (global atomics; rows 0, row_step, ...), zebra flags, false colour, and the composite written into
// rgba in place. The scope buffers must be zeroed before the launch.
extern "C" __global__ void vf_view_pass(
    unsigned char* rgba, const unsigned char* pooled, int vw, int vh, int row_step,
    int do_hist, unsigned long long* hist, int do_wave, unsigned int* wave, int do_parade,
    unsigned int* parade, int do_vs, unsigned int* vscope, int vs_n, float ku, float kv,
    int do_zebra, int over_on, int over_t, int under_t, int zebra_rgb, int zebra_raw,
    int phase, int stripe_w, unsigned char* zebra_out,
    int do_fc, const unsigned char* fc_lut, unsigned char* fc_out,
    int do_peak, int peak_r, int peak_g, int peak_b, int peak_mode, unsigned char* peak_out) {
    __shared__ unsigned int bins[4 * 256];
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    const int nthreads = blockDim.x * blockDim.y;
    if (do_hist) {
        for (int k = tid; k < 4 * 256; k += nthreads) bins[k] = 0;
        __syncthreads();
    }
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    int vs_cell = -1;  // this pixel's vectorscope cell, counted below with its warp's
    if (x < vw && y < vh) {
        const long long p = (long long)y * vw + x;
        unsigned char* px = rgba + 4 * p;
        const int r = px[0], g = px[1], b = px[2];
        const int l = vf_luma8(r, g, b);
        if (do_hist) {
            atomicAdd(&bins[r], 1u);
            atomicAdd(&bins[256 + g], 1u);
            atomicAdd(&bins[512 + b], 1u);
            atomicAdd(&bins[768 + l], 1u);
        }
        const int scope_row = (y % row_step) == 0;  // scopes sample rows 0, step, 2 step...
        if (do_wave && scope_row) atomicAdd(&wave[(long long)l * vw + x], 1u);
        if (do_parade && scope_row) {
            atomicAdd(&parade[(long long)r * vw + x], 1u);
            atomicAdd(&parade[(long long)(256 + g) * vw + x], 1u);
            atomicAdd(&parade[(long long)(512 + b) * vw + x], 1u);
        }
        if (do_vs && scope_row) {
            int u, v;
            vf_vectorscope_cell(r, g, b, vs_n, ku, kv, &u, &v);
            vs_cell = v * vs_n + u;
        }
        const int pool = pooled[p];
        int zf = 0;
        if (do_zebra) {
            zf = vf_zebra_flags(r, g, b, over_t, under_t, zebra_rgb,
                                zebra_raw && (pool & VF_POOL_RAW_CLIP), over_on);
            zebra_out[p] = (unsigned char)zf;
        }
        const unsigned char* fc = 0;
        if (do_fc) {
            fc = fc_lut + 4 * l;
            for (int c = 0; c < 4; ++c) fc_out[4 * p + c] = fc[c];
        }
        const int level = do_peak ? (pool & VF_POOL_LEVEL_MASK) : 0;
        if (do_peak) peak_out[p] = (unsigned char)level;
        const unsigned char peak_rgb[3] = {(unsigned char)peak_r, (unsigned char)peak_g,
                                           (unsigned char)peak_b};
        unsigned char out[3] = {(unsigned char)r, (unsigned char)g, (unsigned char)b};
        vf_composite(out, fc, level, do_peak ? peak_rgb : 0, peak_mode, zf,
                     vf_stripe_on(x, y, phase, stripe_w));
        px[0] = out[0]; px[1] = out[1]; px[2] = out[2];
    }
    if (do_vs) {  // uniform: every lane of the warp is here
        // most pixels of a scene fall on a few cells near neutral: one global atomic per
        // distinct cell of the warp instead of one per pixel
        const unsigned peers = __match_any_sync(0xffffffffu, vs_cell);
        if (vs_cell >= 0 && (tid & 31) == __ffs(peers) - 1)
            atomicAdd(&vscope[vs_cell], (unsigned)__popc(peers));
    }
    if (do_hist) {
        __syncthreads();
        for (int k = tid; k < 4 * 256; k += nthreads)
            if (bins[k]) atomicAdd(&hist[k], (unsigned long long)bins[k]);
    }
}
