// Simulated sensor exposure: a mosaic of mean photo-electron rates -> 10-bit raw frame.
#include "vf_sim.cuh"

// rate: (rate_h, rate_w) float32 e-/s, already mosaiced; the frame reads the window at
// (oy, ox) (even offsets keep the CFA) into out (h, w) uint16. noise = 0 gives the rounded mean.
extern "C" __global__ void vf_sim_expose(const float* __restrict__ rate, int rate_w, int oy,
                                         int ox, unsigned short* __restrict__ out, int w, int h,
                                         float time_s, float gain, float full_well,
                                         float read_dn, float black, float white,
                                         unsigned int seed, int noise) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    out[(long long)y * w + x] = vf_sim_expose_at(rate, rate_w, oy, ox, x, y, w, time_s, gain,
                                                  full_well, read_dn, black, white, seed, noise);
}
