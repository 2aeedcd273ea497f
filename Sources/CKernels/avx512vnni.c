// The avx512vnni variant: every function in this file is compiled for avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c, and called
// only when the CPU has it (cpu.c).
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)

#define EK_FN(name) ek_##name##_avx512vnni
#define EK_VW 16
#define EK_W512 1
#define EK_MULSUM(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))
#define EK_MULSUM512(u, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), (u), (s))
#define EK_TILES_VNNI512 1
#include "generic.h"
#include "x86.h"
#include "tiles.h"
#include "variant.h"

#pragma clang attribute pop
#endif
