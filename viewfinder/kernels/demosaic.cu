// Full-resolution demosaic kernels: (H, W) uint16 or float32 mosaic -> (H, W, 3) float32 RGB in
// the units of the input. The per-pixel maths lives in vf_demosaic.cuh (bilinear, MHC) and
// vf_hq.cuh (hq: RCD + refinement, five passes; scratch planes vh and pq).
// Every kernel takes one thread per pixel on a 2-D grid.
#include "vf_demosaic.cuh"
#include "vf_hq.cuh"

#define VF_PIXEL_INDEX                                    \
    const int x = blockIdx.x * blockDim.x + threadIdx.x; \
    const int y = blockIdx.y * blockDim.y + threadIdx.y; \
    if (x >= width || y >= height) return;               \
    const long long i = (long long)y * width + x;

template <typename T>
__device__ __forceinline__ void vf_bilinear_pixel(const T* raw, float* out, int width, int height,
                                                  int cfa) {
    VF_PIXEL_INDEX
    const VfPlainSource<T> m{raw, width, height};
    float rgb[3];
    vf_demosaic_bilinear(m, cfa, y, x, rgb);
    out[3 * i] = rgb[0];
    out[3 * i + 1] = rgb[1];
    out[3 * i + 2] = rgb[2];
}

template <typename T>
__device__ __forceinline__ void vf_mhc_pixel(const T* raw, float* out, int width, int height,
                                             int cfa) {
    VF_PIXEL_INDEX
    const VfPlainSource<T> m{raw, width, height};
    float rgb[3];
    vf_demosaic_mhc(m, cfa, y, x, rgb);
    out[3 * i] = rgb[0];
    out[3 * i + 1] = rgb[1];
    out[3 * i + 2] = rgb[2];
}

// hq pass A: direction strengths into the scratch planes vh and pq, each (H, W).
template <typename T>
__device__ __forceinline__ void vf_hq_directions_pixel(const T* raw, float* vh, float* pq,
                                                       int width, int height) {
    VF_PIXEL_INDEX
    const VfPlainSource<T> m{raw, width, height};
    vh[i] = vf_hq_vh(m, y, x);
    pq[i] = vf_hq_pq(m, y, x);
}

// hq pass B: green everywhere.
template <typename T>
__device__ __forceinline__ void vf_hq_green_pixel(const T* raw, const float* vh, float* out,
                                                  int width, int height, int cfa) {
    VF_PIXEL_INDEX
    const VfPlainSource<T> m{raw, width, height};
    const VfPlane dir{vh, width, height, 1};
    out[3 * i + 1] = vf_hq_green(m, dir, cfa, y, x);
}

// hq pass C: at R/B sites, the known colour and the opposite one.
template <typename T>
__device__ __forceinline__ void vf_hq_rb_pixel(const T* raw, const float* pq, float* out,
                                               int width, int height, int cfa) {
    VF_PIXEL_INDEX
    const int c = vf_cfa_color(cfa, y, x);
    if (c == 1) return;
    const VfPlainSource<T> m{raw, width, height};
    const VfPlane g{out + 1, width, height, 3};
    const VfPlane dir{pq, width, height, 1};
    out[3 * i + c] = m(y, x);
    out[3 * i + 2 - c] = vf_hq_rb_at_rb(m, g, dir, y, x);
}

// hq passes E and F in one kernel, at R/B sites: the refined green and the refined opposite
// colour. Both read other pixels only at G sites, which this kernel does not write.
template <typename T>
__device__ __forceinline__ void vf_hq_refine_pixel(const T* raw, const float* vh, float* out,
                                                   int width, int height, int cfa) {
    VF_PIXEL_INDEX
    const int c = vf_cfa_color(cfa, y, x);
    if (c == 1) return;
    const VfPlainSource<T> m{raw, width, height};
    const VfPlane own{out + c, width, height, 3}, g{out + 1, width, height, 3};
    const VfPlane other{out + 2 - c, width, height, 3};
    const float d = vf_hq_disc(VfPlane{vh, width, height, 1}, y, x);
    const float gg = vf_hq_refine_green(own, g, d, y, x);
    const float oo = vf_hq_refine_rb_at_rb(m(y, x), own, other, d, y, x);
    out[3 * i + 1] = gg;
    out[3 * i + 2 - c] = oo;
}

#define VF_DEMOSAIC_KERNELS(T, SUFFIX)                                                        \
    extern "C" __global__ void vf_demosaic_bilinear_##SUFFIX(const T* raw, float* out,        \
                                                             int width, int height, int cfa) { \
        vf_bilinear_pixel<T>(raw, out, width, height, cfa);                                    \
    }                                                                                          \
    extern "C" __global__ void vf_demosaic_mhc_##SUFFIX(const T* raw, float* out, int width,  \
                                                        int height, int cfa) {                 \
        vf_mhc_pixel<T>(raw, out, width, height, cfa);                                         \
    }                                                                                          \
    extern "C" __global__ void vf_hq_directions_##SUFFIX(const T* raw, float* vh, float* pq,  \
                                                         int width, int height) {              \
        vf_hq_directions_pixel<T>(raw, vh, pq, width, height);                                 \
    }                                                                                          \
    extern "C" __global__ void vf_hq_green_##SUFFIX(const T* raw, const float* vh, float* out, \
                                                    int width, int height, int cfa) {          \
        vf_hq_green_pixel<T>(raw, vh, out, width, height, cfa);                                \
    }                                                                                          \
    extern "C" __global__ void vf_hq_rb_##SUFFIX(const T* raw, const float* pq, float* out,   \
                                                 int width, int height, int cfa) {             \
        vf_hq_rb_pixel<T>(raw, pq, out, width, height, cfa);                                   \
    }                                                                                          \
    extern "C" __global__ void vf_hq_refine_##SUFFIX(const T* raw, const float* vh, float* out, \
                                                     int width, int height, int cfa) {          \
        vf_hq_refine_pixel<T>(raw, vh, out, width, height, cfa);                                 \
    }

VF_DEMOSAIC_KERNELS(unsigned short, u16)
VF_DEMOSAIC_KERNELS(float, f32)

// hq pass D: R and B at G sites (in place on out; reads only R/B sites).
extern "C" __global__ void vf_hq_rb_at_g(const float* vh, float* out, int width, int height,
                                         int cfa) {
    VF_PIXEL_INDEX
    if (vf_cfa_color(cfa, y, x) != 1) return;
    const VfPlane r{out, width, height, 3}, g{out + 1, width, height, 3};
    const VfPlane b{out + 2, width, height, 3};
    const float d = vf_hq_disc(VfPlane{vh, width, height, 1}, y, x);
    const float rr = vf_hq_rb_at_g(r, g, d, y, x);
    const float bb = vf_hq_rb_at_g(b, g, d, y, x);
    out[3 * i] = rr;
    out[3 * i + 2] = bb;
}
