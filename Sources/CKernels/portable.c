// The portable variant: the baseline instruction set (SSE2 on x86-64, NEON on arm64).
#include <math.h>
#include <stdint.h>
#include <string.h>

#define EK_FN(name) ek_##name##_portable
#define EK_VW 4
#include "generic.h"

static void EK_FN(f16_to_f32)(const uint16_t *src, float *dst, int64_t n) { EK_FN(f16_to_f32_g)(src, dst, n); }
static void EK_FN(f32_to_f16)(const float *src, uint16_t *dst, int64_t n) { EK_FN(f32_to_f16_g)(src, dst, n); }

#include "tiles.h"
#include "variant.h"
