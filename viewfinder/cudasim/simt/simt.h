// simt.h: CUDA's execution model on the CPU, for the project's unmodified .cu kernels (g++).
//
// A launch runs its grid's blocks on a few OS worker threads (blocks of a grid run in
// parallel, as on a GPU). Inside a block every CUDA thread is a fiber with its own stack, all
// fibers of the block on the same worker: they run in turn, each until it finishes or reaches
// a barrier (__syncthreads, a warp intrinsic, __syncwarp), so barriers are real: no thread
// passes one before every thread of its block (or warp) has reached it. __shared__ variables
// are thread_local, hence one copy per block in flight. Atomics are real (GCC __atomic
// builtins), between blocks on different workers too.
//
// What this catches: a missing __syncthreads between writes and reads of shared memory (the
// fibers run in order, so a thread reads before later threads have written; the order can be
// reversed or shuffled to flip which side of a race shows), __syncthreads in divergent code
// (reported as an error, with the block), barrier mismatches and deadlocks, wrong indices
// (results differ from the reference), races on global memory between blocks (real
// parallelism), out-of-bounds accesses in the AddressSanitizer build. What it cannot catch:
// a non-atomic read-modify-write race between threads of one block (fibers do not preempt
// each other between barriers), and memory-model subtleties of the GPU (weak ordering).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif
#if !defined(__x86_64__) || defined(SIMT_ASAN) || defined(SIMT_UCONTEXT)
#include <ucontext.h>
#define SIMT_USE_UCONTEXT 1
#endif

// ---- CUDA's qualifiers and built-in variables ------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __constant__ static

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
static constexpr int warpSize = 32;

namespace simt {
inline thread_local uint3 thread_index;
inline thread_local uint3 block_index;
inline thread_local dim3 block_dim;
inline thread_local dim3 grid_dim;
}  // namespace simt
#define threadIdx (::simt::thread_index)
#define blockIdx (::simt::block_index)
#define blockDim (::simt::block_dim)
#define gridDim (::simt::grid_dim)

// ---- fibers ------------------------------------------------------------------------------------
namespace simt {

enum class State : int { ready, wait_block, wait_warp, done };

struct Fiber {
    void* sp = nullptr;  // saved stack pointer (asm switch)
#ifdef SIMT_USE_UCONTEXT
    ucontext_t ctx;
#endif
    char* stack = nullptr;
    size_t stack_size = 0;
    State state = State::ready;
    uint3 idx{0, 0, 0};
    int linear = 0;
    void* fake_stack = nullptr;  // AddressSanitizer's per-fiber fake stack
};

#ifndef SIMT_USE_UCONTEXT
// simt_switch(save, to): save callee-saved registers, MXCSR and the x87 control word on this
// stack, store the stack pointer in *save, continue on the stack `to` (the System V ABI).
extern "C" void simt_switch(void** save, void* to);
asm(R"(
    .text
    .p2align 4
    .globl simt_switch
    .hidden simt_switch
    .type simt_switch, @function
simt_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size simt_switch, .-simt_switch
)");
#endif

struct Block;
inline thread_local Block* current_block = nullptr;

// The fibers of one block, run by one worker thread.
struct Block {
    std::vector<Fiber> fibers;
    void* home_sp = nullptr;  // the worker's own stack
#ifdef SIMT_USE_UCONTEXT
    ucontext_t home_ctx;
#endif
    const void* home_bottom = nullptr;  // AddressSanitizer: the worker stack's bounds
    size_t home_size = 0;
    int current = -1;
    void (*body)(void*) = nullptr;  // runs the kernel with its arguments
    void* body_arg = nullptr;
    // warp exchange slots for the shuffle and vote intrinsics, 8 bytes per thread
    std::vector<uint64_t> lanes;
    std::vector<int> order;  // the order in which fibers are resumed
    size_t stack_size = 0;

    ~Block() {
        for (Fiber& f : fibers)
            if (f.stack) munmap(f.stack, f.stack_size);
    }

    void ensure(int nthreads, size_t stack) {
        if ((int)fibers.size() == nthreads && stack_size == stack) return;
        for (Fiber& f : fibers)
            if (f.stack) munmap(f.stack, f.stack_size);
        fibers.assign(nthreads, Fiber{});
        stack_size = stack;
        for (Fiber& f : fibers) {
            void* p = mmap(nullptr, stack, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
            if (p == MAP_FAILED) {
                std::fprintf(stderr, "cudasim: cannot map %zu bytes of fiber stack\n", stack);
                std::abort();
            }
            mprotect(p, 4096, PROT_NONE);  // guard page: a stack overflow faults, loudly
            f.stack = static_cast<char*>(p);
            f.stack_size = stack;
        }
        lanes.assign(nthreads, 0);
        order.resize(nthreads);
    }

    // From fiber `i` (or from home when i < 0) to fiber `to` (or home when to < 0).
    void switch_to(int from, int to) {
        Fiber* f = from >= 0 ? &fibers[from] : nullptr;
        Fiber* t = to >= 0 ? &fibers[to] : nullptr;
#ifdef SIMT_ASAN
        // a finished fiber passes nullptr: its fake stack is freed
        void** save = (f && f->state == State::done) ? nullptr : (f ? &f->fake_stack : &home_fake);
        __sanitizer_start_switch_fiber(save, t ? t->stack : home_bottom,
                                       t ? t->stack_size : home_size);
#endif
#ifdef SIMT_USE_UCONTEXT
        swapcontext(f ? &f->ctx : &home_ctx, t ? &t->ctx : &home_ctx);
#else
        simt_switch(f ? &f->sp : &home_sp, t ? t->sp : home_sp);
#endif
#ifdef SIMT_ASAN
        // back on fiber `from` (or home)
        const void* bottom;
        size_t size;
        __sanitizer_finish_switch_fiber(f ? f->fake_stack : home_fake, &bottom, &size);
        if (f) { home_bottom = bottom; home_size = size; }  // in a fiber: came from home
#endif
    }
#ifdef SIMT_ASAN
    void* home_fake = nullptr;
#endif

    static void entry() {
        Block* b = current_block;
#ifdef SIMT_ASAN
        const void* bottom;
        size_t size;
        __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
        b->home_bottom = bottom;
        b->home_size = size;
#endif
        b->body(b->body_arg);
        b = current_block;  // the same block, but reload after the switches of barriers
        const int me = b->current;
        b->fibers[me].state = State::done;
        b->switch_to(me, -1);
        std::abort();  // a finished fiber is never resumed
    }

    void start(Fiber& f) {
#ifdef SIMT_USE_UCONTEXT
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack + 4096;
        f.ctx.uc_stack.ss_size = f.stack_size - 4096;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, (void (*)())entry, 0);
#else
        uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + f.stack_size) & ~uintptr_t(15);
        auto* sp = reinterpret_cast<uint64_t*>(top);
        *--sp = 0;                                        // entry's return address: none
        *--sp = reinterpret_cast<uint64_t>(&Block::entry);  // where simt_switch returns to
        for (int k = 0; k < 6; ++k) *--sp = 0;            // rbp rbx r12-r15
        *--sp = 0x037F00001F80ull;                        // MXCSR 0x1F80, x87 CW 0x037F
        f.sp = sp;
#endif
        f.state = State::ready;
    }

    // Wait at a barrier: back to the scheduler, which resumes this fiber once all threads of
    // the scope (block or warp) have arrived.
    void wait(State why) {
        const int me = current;
        fibers[me].state = why;
        switch_to(me, -1);
    }
};

// What went wrong in a launch (first error wins); read by the launcher.
struct LaunchError {
    std::atomic<int> set{0};
    char text[512];
    void report(const char* msg) {
        int expected = 0;
        if (set.compare_exchange_strong(expected, 1)) std::snprintf(text, sizeof text, "%s", msg);
    }
};

inline int warp_of(int linear) { return linear / 32; }

// Run one block to completion. Returns false (with `err` set) on a barrier error.
inline bool run_block(Block& b, int nthreads, int schedule, uint64_t seed, LaunchError& err) {
    const dim3 bd = block_dim;
    for (int i = 0; i < nthreads; ++i) {
        Fiber& f = b.fibers[i];
        f.linear = i;
        f.idx = uint3{(unsigned)(i % bd.x), (unsigned)((i / bd.x) % bd.y),
                      (unsigned)(i / (bd.x * bd.y))};
        b.start(f);
        b.order[i] = i;
    }
    if (schedule == 1) std::reverse(b.order.begin(), b.order.end());
    std::mt19937_64 rng(seed);
    int live = nthreads;
    while (live > 0) {
        if (schedule == 2) std::shuffle(b.order.begin(), b.order.end(), rng);
        for (int k = 0; k < nthreads; ++k) {
            const int i = b.order[k];
            if (b.fibers[i].state != State::ready) continue;
            b.current = i;
            thread_index = b.fibers[i].idx;
            b.switch_to(-1, i);
            if (b.fibers[i].state == State::done) --live;
        }
        if (live == 0) break;
        // every live fiber waits at a barrier: release the complete ones
        bool released = false;
        const int nwarps = (nthreads + 31) / 32;
        for (int w = 0; w < nwarps; ++w) {
            int waiting = 0, alive = 0;
            for (int i = w * 32; i < std::min(nthreads, w * 32 + 32); ++i) {
                alive += b.fibers[i].state != State::done;
                waiting += b.fibers[i].state == State::wait_warp;
            }
            if (waiting > 0 && waiting == alive) {
                for (int i = w * 32; i < std::min(nthreads, w * 32 + 32); ++i)
                    if (b.fibers[i].state == State::wait_warp) b.fibers[i].state = State::ready;
                released = true;
            }
        }
        if (!released) {
            int at_block = 0;
            for (int i = 0; i < nthreads; ++i) at_block += b.fibers[i].state == State::wait_block;
            if (at_block == live && at_block == nthreads) {
                for (int i = 0; i < nthreads; ++i) b.fibers[i].state = State::ready;
                released = true;
            } else {
                char msg[400];
                std::snprintf(msg, sizeof msg,
                              "__syncthreads() not reached by every thread of block (%u, %u, %u): "
                              "%d of %d threads wait at a block barrier, %d exited, %d wait at "
                              "a warp barrier (a barrier in divergent code is undefined in CUDA)",
                              block_index.x, block_index.y, block_index.z, at_block, nthreads,
                              nthreads - live, live - at_block);
                err.report(msg);
                // abandon the block: its fibers are reset by the next start()
                return false;
            }
        }
    }
    return true;
}

struct LaunchCfg {
    unsigned grid[3];
    unsigned block[3];
    int workers;     // OS threads running blocks
    int schedule;    // 0 forward, 1 reverse, 2 shuffled fiber order
    unsigned long long seed;
    unsigned long long stack_bytes;
};

// Stacks are kept per worker slot between launches (mapping 256 stacks per launch is slow).
inline std::vector<Block*>& block_pool() {
    static std::vector<Block*> pool;
    return pool;
}
inline std::atomic_flag& pool_lock() {
    static std::atomic_flag flag = ATOMIC_FLAG_INIT;
    return flag;
}
inline Block* take_block() {
    while (pool_lock().test_and_set(std::memory_order_acquire)) {}
    Block* b = nullptr;
    if (!block_pool().empty()) {
        b = block_pool().back();
        block_pool().pop_back();
    }
    pool_lock().clear(std::memory_order_release);
    return b ? b : new Block();
}
inline void give_block(Block* b) {
    while (pool_lock().test_and_set(std::memory_order_acquire)) {}
    block_pool().push_back(b);
    pool_lock().clear(std::memory_order_release);
}

inline int run_grid(const LaunchCfg& cfg, void (*body)(void*), void* arg, char* err_text,
                    int err_len) {
    const dim3 grid(cfg.grid[0], cfg.grid[1], cfg.grid[2]);
    const dim3 block(cfg.block[0], cfg.block[1], cfg.block[2]);
    const long long nblocks = (long long)grid.x * grid.y * grid.z;
    const int nthreads = (int)(block.x * block.y * block.z);
    std::atomic<long long> next{0};
    LaunchError err;
    auto work = [&]() {
        Block* b = take_block();
        b->ensure(nthreads, cfg.stack_bytes);
        b->body = body;
        b->body_arg = arg;
        current_block = b;
        block_dim = block;
        grid_dim = grid;
        for (long long k = next.fetch_add(1); k < nblocks && !err.set.load(); k = next.fetch_add(1)) {
            block_index = uint3{(unsigned)(k % grid.x), (unsigned)((k / grid.x) % grid.y),
                                (unsigned)(k / ((long long)grid.x * grid.y))};
            if (!run_block(*b, nthreads, cfg.schedule, cfg.seed + (uint64_t)k, err)) break;
        }
        current_block = nullptr;
        give_block(b);
    };
    const int workers = (int)std::max(1LL, std::min<long long>(cfg.workers, nblocks));
    if (workers == 1) {
        work();
    } else {
        std::vector<std::thread> pool;
        for (int w = 0; w < workers; ++w) pool.emplace_back(work);
        for (auto& t : pool) t.join();
    }
    if (err.set.load()) {
        std::snprintf(err_text, err_len, "%s", err.text);
        return 1;
    }
    return 0;
}

// ---- kernel launch with the driver's argument convention --------------------------------------
// args[i] points at the bytes of argument i, as cuLaunchKernel takes them.
template <typename... A>
struct Invocation {
    void (*kernel)(A...);
    std::tuple<std::decay_t<A>...> args;
    static void run(void* self) {
        auto* inv = static_cast<Invocation*>(self);
        std::apply(inv->kernel, inv->args);
    }
};

template <typename... A, size_t... I>
int launch_impl(void (*kernel)(A...), const LaunchCfg* cfg, void** args, char* err, int len,
                std::index_sequence<I...>) {
    Invocation<A...> inv{kernel, {*static_cast<std::decay_t<A>*>(args[I])...}};
    return run_grid(*cfg, &Invocation<A...>::run, &inv, err, len);
}

template <typename... A>
int launch(void (*kernel)(A...), const LaunchCfg* cfg, void** args, char* err, int len) {
    return launch_impl(kernel, cfg, args, err, len, std::index_sequence_for<A...>{});
}

// Signature text of a kernel, for the Python side's argument checks: one item per parameter,
// "p:<code>" for a pointer (the pointee's code) or "s:<code>" for a value; codes are NumPy's
// dtype.str without byte order ("u2", "f4", ...) or "?<size>" for other types.
template <typename T>
const char* code_of() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bool>) return "b1";
    else if constexpr (std::is_floating_point_v<U>) return sizeof(U) == 4 ? "f4" : "f8";
    else if constexpr (std::is_integral_v<U>) {
        if constexpr (std::is_signed_v<U>)
            return sizeof(U) == 1 ? "i1" : sizeof(U) == 2 ? "i2" : sizeof(U) == 4 ? "i4" : "i8";
        else
            return sizeof(U) == 1 ? "u1" : sizeof(U) == 2 ? "u2" : sizeof(U) == 4 ? "u4" : "u8";
    } else if constexpr (std::is_void_v<U>) return "v0";
    else return "?";
}
template <typename A>
void append_param(std::string& out) {
    using D = std::decay_t<A>;
    if (!out.empty()) out += ",";
    if constexpr (std::is_pointer_v<D>) {
        out += "p:";
        out += code_of<std::remove_pointer_t<D>>();
    } else {
        out += "s:";
        out += code_of<D>();
        if (std::string(code_of<D>()) == "?") out += std::to_string(sizeof(D));
    }
}
template <typename... A>
const char* signature(void (*)(A...)) {
    static const std::string text = [] {
        std::string out;
        (append_param<A>(out), ...);
        return out;
    }();
    return text.c_str();
}

}  // namespace simt

// ---- CUDA device functions ---------------------------------------------------------------------
inline void __syncthreads() { ::simt::current_block->wait(::simt::State::wait_block); }
inline void __syncwarp(unsigned = 0xffffffffu) {
    ::simt::current_block->wait(::simt::State::wait_warp);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

namespace simt {
inline int lane_id() { return current_block->current % 32; }
// Exchange one value per lane: every live lane of the warp publishes `v`, then reads lane `src`.
template <typename T>
T warp_exchange(T v, int src_lane) {
    static_assert(sizeof(T) <= 8, "warp shuffle of a type wider than 8 bytes");
    Block* b = current_block;
    const int me = b->current;
    uint64_t slot = 0;
    std::memcpy(&slot, &v, sizeof(T));
    b->lanes[me] = slot;
    b->wait(State::wait_warp);  // every lane has published
    b = current_block;
    const int base = (me / 32) * 32;
    const int src = base + (src_lane & 31);
    uint64_t got = b->lanes[src < (int)b->lanes.size() ? src : me];
    b->wait(State::wait_warp);  // every lane has read before the slots are reused
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}
inline unsigned warp_ballot(bool pred) {
    Block* b = current_block;
    const int me = b->current;
    b->lanes[me] = pred;
    b->wait(State::wait_warp);
    b = current_block;
    const int base = (me / 32) * 32;
    unsigned mask = 0;
    for (int i = base; i < std::min<int>(base + 32, (int)b->fibers.size()); ++i)
        if (b->fibers[i].state != State::done && b->lanes[i]) mask |= 1u << (i - base);
    b->wait(State::wait_warp);
    return mask;
}
}  // namespace simt

template <typename T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
    const int lane = ::simt::lane_id();
    return ::simt::warp_exchange(v, (lane & ~(width - 1)) + (src & (width - 1)));
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    const int lane = ::simt::lane_id();
    const int seg = lane & ~(width - 1);
    const int src = (lane - seg) + (int)delta < width ? lane + (int)delta : lane;
    return ::simt::warp_exchange(v, src);
}
template <typename T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
    const int lane = ::simt::lane_id();
    const int seg = lane & ~(width - 1);
    const int src = (lane - seg) >= (int)delta ? lane - (int)delta : lane;
    return ::simt::warp_exchange(v, src);
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    const int lane = ::simt::lane_id();
    const int seg = lane & ~(width - 1);
    const int src = seg + (((lane - seg) ^ mask) & (width - 1));
    return ::simt::warp_exchange(v, src);
}
inline unsigned __ballot_sync(unsigned, int pred) { return ::simt::warp_ballot(pred != 0); }
inline int __any_sync(unsigned m, int pred) { return __ballot_sync(m, pred) != 0; }
inline int __all_sync(unsigned, int pred) {
    return ::simt::warp_ballot(pred == 0) == 0;  // no live lane has a false predicate
}
inline unsigned __activemask() { return 0xffffffffu; }
// Lanes of the warp whose `v` equals this lane's (for warp-aggregated atomics).
template <typename T>
unsigned __match_any_sync(unsigned, T v) {
    static_assert(sizeof(T) <= 8, "match of a type wider than 8 bytes");
    ::simt::Block* b = ::simt::current_block;
    const int me = b->current;
    uint64_t slot = 0;
    std::memcpy(&slot, &v, sizeof(T));
    b->lanes[me] = slot;
    b->wait(::simt::State::wait_warp);
    b = ::simt::current_block;
    const int base = (me / 32) * 32;
    unsigned mask = 0;
    for (int i = base; i < std::min<int>(base + 32, (int)b->fibers.size()); ++i)
        if (b->fibers[i].state != ::simt::State::done && b->lanes[i] == slot)
            mask |= 1u << (i - base);
    b->wait(::simt::State::wait_warp);
    return mask;
}

// Atomics: GCC builtins, sequentially consistent (stronger than CUDA's relaxed atomics).
#define SIMT_ATOMIC_INT(NAME, BUILTIN)                                              \
    template <typename T, typename V>                                              \
    inline std::enable_if_t<std::is_integral_v<T>, T> NAME(T* p, V v) {            \
        return BUILTIN(p, (T)v, __ATOMIC_SEQ_CST);                                 \
    }
SIMT_ATOMIC_INT(atomicAdd, __atomic_fetch_add)
SIMT_ATOMIC_INT(atomicSub, __atomic_fetch_sub)
SIMT_ATOMIC_INT(atomicAnd, __atomic_fetch_and)
SIMT_ATOMIC_INT(atomicOr, __atomic_fetch_or)
SIMT_ATOMIC_INT(atomicXor, __atomic_fetch_xor)
SIMT_ATOMIC_INT(atomicExch, __atomic_exchange_n)
#undef SIMT_ATOMIC_INT
template <typename T, typename F>
inline T simt_atomic_update(T* p, F f) {
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(p, &old, f(old), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
    return old;
}
template <typename T>
inline std::enable_if_t<std::is_floating_point_v<T>, T> atomicAdd(T* p, T v) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
    using I = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    I* q = reinterpret_cast<I*>(p);
    I old = __atomic_load_n(q, __ATOMIC_SEQ_CST);
    for (;;) {
        T f;
        std::memcpy(&f, &old, sizeof f);
        f += v;
        I want;
        std::memcpy(&want, &f, sizeof f);
        if (__atomic_compare_exchange_n(q, &old, want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            std::memcpy(&f, &old, sizeof f);
            return f;
        }
    }
}
template <typename T, typename V>
inline T atomicMax(T* p, V v) { return simt_atomic_update(p, [&](T o) { return o > (T)v ? o : (T)v; }); }
template <typename T, typename V>
inline T atomicMin(T* p, V v) { return simt_atomic_update(p, [&](T o) { return o < (T)v ? o : (T)v; }); }
template <typename T>
inline T atomicCAS(T* p, T compare, T value) {
    __atomic_compare_exchange_n(p, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return compare;  // the old value either way
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
    return simt_atomic_update(p, [&](unsigned o) { return o >= limit ? 0u : o + 1; });
}

// Math and bit intrinsics the kernels may use.
using std::max;
using std::min;
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline unsigned __float2uint_rn(float x) { return (unsigned)nearbyintf(x); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline int __mul24(int a, int b) { return a * b; }
template <typename T>
inline T __ldg(const T* p) { return *p; }
