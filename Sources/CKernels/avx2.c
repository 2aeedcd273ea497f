// The avx2 variant: every function in this file is compiled for avx2,fma,f16c, and called
// only when the CPU has it (cpu.c).
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define EK_FN(name) ek_##name##_avx2
#define EK_VW 8
#define EK_W512 0
#define EK_MULSUM(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1))
#define EK_TILES_AVX2 1

#include "generic.h"
#include "x86.h"
#include "tiles.h"
#include "variant.h"

#pragma clang attribute pop
#endif
