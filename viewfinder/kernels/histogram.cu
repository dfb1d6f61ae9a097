// Exact RAW histogram per CFA site (R, Gr, Gb, B), 4 x VF_HIST_BINS counts (uint64).
// Bins privatised in shared memory per block (when 4 * VF_HIST_BINS * 4 bytes fit in 48 KB,
// i.e. up to 11 bits; define VF_HIST_GLOBAL for more bits: global atomics), then one atomic
// add per non-empty bin into the output. No host synchronisation: the caller zeroes `hist`
// and reads it back a frame later through pinned memory.
#include "vf_assists.cuh"

#ifndef VF_HIST_BINS
#define VF_HIST_BINS 1024
#endif

extern "C" __global__ void vf_raw_histogram(const unsigned short* raw, int width, int height,
                                            int cfa, unsigned long long* hist) {
    const long long npairs = (long long)height * (width / 2);
    const long long stride = (long long)gridDim.x * blockDim.x;
    const int half = width / 2;
#ifndef VF_HIST_GLOBAL
    __shared__ unsigned int bins[4 * VF_HIST_BINS];
    for (int k = threadIdx.x; k < 4 * VF_HIST_BINS; k += blockDim.x) bins[k] = 0;
    __syncthreads();
#endif
    const unsigned int* pairs = reinterpret_cast<const unsigned int*>(raw);  // width is even
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < npairs; p += stride) {
        // 32-bit division: pairs of a frame up to 8 Gpx fit in an unsigned int
        const int odd_row = (int)(((unsigned int)p / (unsigned int)half) & 1u);
        int a, b;
        vf_hist_pair(pairs[p], odd_row, cfa, VF_HIST_BINS, &a, &b);
#ifndef VF_HIST_GLOBAL
        atomicAdd(&bins[a], 1u);
        atomicAdd(&bins[b], 1u);
#else
        atomicAdd(&hist[a], 1ull);
        atomicAdd(&hist[b], 1ull);
#endif
    }
#ifndef VF_HIST_GLOBAL
    __syncthreads();
    for (int k = threadIdx.x; k < 4 * VF_HIST_BINS; k += blockDim.x)
        if (bins[k]) atomicAdd(&hist[k], (unsigned long long)bins[k]);
#endif
}
