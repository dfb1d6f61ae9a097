// Per-pixel maths of the simulated sensor (viewfinder/sources/sensor.py documents the model).
// Compiles under nvcc, NVRTC and g++ (tests/sources/test_simulated.py checks it on the CPU).
#pragma once
#include "vf_common.cuh"

// 32-bit integer hash with low bias (Wellons' "lowbias32"): a counter-based random source, so
// every pixel of every frame draws its own numbers with no state.
VF_HD unsigned int vf_hash_u32(unsigned int x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

// Uniform in the open interval (0, 1) from the top 24 bits of a hash.
VF_HD float vf_u01(unsigned int h) { return ((float)(h >> 8) + 0.5f) * (1.0f / 16777216.0f); }

// Two independent standard normal deviates for pixel `index` of frame `seed` (Box-Muller).
VF_HD void vf_normal_pair(unsigned int index, unsigned int seed, float* z1, float* z2) {
    const unsigned int h1 = vf_hash_u32(index ^ vf_hash_u32(seed * 2u + 1u));
    const unsigned int h2 = vf_hash_u32(h1 ^ 0x5bd1e995U);
    const float r = sqrtf(-2.0f * logf(vf_u01(h1)));
    const float a = 6.28318530718f * vf_u01(h2);
    *z1 = r * cosf(a);
    *z2 = r * sinf(a);
}

// One raw value: mean photo-electrons `mean_e`, shot noise z1 (Gaussian with the Poisson
// variance), clip at the full well, analogue gain, read noise z2, rounding, clip to [0, white].
VF_HD unsigned short vf_sim_pixel(float mean_e, float z1, float z2, float gain, float full_well,
                                  float read_dn, float black, float white) {
    float e = mean_e + sqrtf(mean_e > 0.0f ? mean_e : 0.0f) * z1;
    e = vf_clampf(e, 0.0f, full_well);
    const float dn = floorf(black + gain * e + read_dn * z2 + 0.5f);
    return (unsigned short)vf_clampf(dn, 0.0f, white);
}

// The whole per-pixel body of vf_sim_expose (sim.cu): output pixel (x, y) of a w-wide frame
// read from the rate map at (y + oy, x + ox). Shared with the CPU test shim.
VF_HD unsigned short vf_sim_expose_at(const float* rate, int rate_w, int oy, int ox, int x,
                                      int y, int w, float time_s, float gain, float full_well,
                                      float read_dn, float black, float white,
                                      unsigned int seed, int noise) {
    const float mean_e = rate[(long long)(y + oy) * rate_w + (x + ox)] * time_s;
    float z1 = 0.0f, z2 = 0.0f;
    if (noise) vf_normal_pair((unsigned int)(y * w + x), seed, &z1, &z2);
    return vf_sim_pixel(mean_e, z1, z2, gain, full_well, read_dn, black, white);
}
