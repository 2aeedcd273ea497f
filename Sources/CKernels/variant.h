// The entry points of one variant, included last by each variant's file (after generic.h and
// any hand-written row kernels, which it uses through the EK_ROW_* names when defined).
#ifndef EK_ROW_Q4_0
#define EK_ROW_Q4_0 EK_FN(row_q4_0_g)
#endif
#ifndef EK_ROW_Q4_1
#define EK_ROW_Q4_1 EK_FN(row_q4_1_g)
#endif
#ifndef EK_ROW_Q8_0
#define EK_ROW_Q8_0 EK_FN(row_q8_0_g)
#endif
#ifndef EK_ROW_Q4_K
#define EK_ROW_Q4_K EK_FN(row_q4_K_g)
#endif
#ifndef EK_ROW_Q6_K
#define EK_ROW_Q6_K EK_FN(row_q6_K_g)
#endif

#ifndef EK_QUANTIZE_Q8
#define EK_QUANTIZE_Q8 EK_FN(quantize_q8)
#define EK_QUANTIZE_Q8_WIDE EK_FN(quantize_q8_wide)
#endif

#ifndef EK_TILES_MATVEC
#define EK_TILES_MATVEC EK_FN(tiles_matvec_g)
#define EK_TILES_MATMUL EK_FN(tiles_matmul_g)
#define EK_TILES_FAST_FOR(type) 0
#endif
#ifndef EK_TILES_WIDENED_FOR
#define EK_TILES_WIDENED_FOR(type) 0
#define EK_WIDEN_Q8 EK_FN(widen_q8_g)
#endif

#define EK_ROWS(kernel)                                                                            \
    for (int64_t r = 0; r < rows; r++) y[r] = kernel(base + (size_t)r * row_bytes, nb, q, d, s);    \
    return 1

int EK_FN(matvec_q8_entry)(int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                           const int8_t *q, const float *d, const float *s, float *y) {
    const uint8_t *base = (const uint8_t *)w;
    const int64_t nb = cols / 32;
    switch (type) {
    case ek_type_q4_0: EK_ROWS(EK_ROW_Q4_0);
    case ek_type_q4_1: EK_ROWS(EK_ROW_Q4_1);
    case ek_type_q5_0: EK_ROWS(EK_FN(row_q5_0_g));
    case ek_type_q5_1: EK_ROWS(EK_FN(row_q5_1_g));
    case ek_type_q8_0: EK_ROWS(EK_ROW_Q8_0);
    case ek_type_q4_K: EK_ROWS(EK_ROW_Q4_K);
    case ek_type_q5_K: EK_ROWS(EK_FN(row_q5_K_g));
    case ek_type_q6_K: EK_ROWS(EK_ROW_Q6_K);
    default: return 0;
    }
}

int EK_FN(matvec_f32_entry)(int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                            const float *x, float *y) {
    if (type != ek_type_f32 && type != ek_type_f16 && type != ek_type_bf16) return 0;
    const uint8_t *base = (const uint8_t *)w;
    for (int64_t r = 0; r < rows; r++) y[r] = EK_FN(row_float_g)(type, base + (size_t)r * row_bytes, x, cols);
    return 1;
}

void EK_FN(quantize_q8_entry)(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    EK_QUANTIZE_Q8(x, n, q, d, s);
}

void EK_FN(f16_to_f32_entry)(const uint16_t *src, float *dst, int64_t n) { EK_FN(f16_to_f32)(src, dst, n); }

void EK_FN(f32_to_f16_entry)(const float *src, uint16_t *dst, int64_t n) { EK_FN(f32_to_f16)(src, dst, n); }

void EK_FN(gelu_entry)(float *x, int64_t n) { EK_FN(gelu)(x, n); }

void EK_FN(layer_norm_entry)(float *x, const float *residual, const float *gain, const float *bias, int64_t rows,
                             int64_t width, float epsilon) {
    EK_FN(layer_norm)(x, residual, gain, bias, rows, width, epsilon);
}

void EK_FN(softmax_rows_entry)(float *x, int64_t rows, int64_t count, int64_t stride) {
    EK_FN(softmax_rows)(x, rows, count, stride);
}

int EK_FN(dequantize_entry)(int type, const void *src, float *dst, int64_t count) {
    return EK_FN(dequantize)(type, (const uint8_t *)src, dst, count);
}

void EK_FN(rms_norm_entry)(const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps) {
    EK_FN(rms_norm)(x, w, y, rows, n, eps);
}

void EK_FN(silu_mul_entry)(const float *gate, const float *up, float *dst, int64_t n) { EK_FN(silu_mul)(gate, up, dst, n); }

int EK_FN(tiles_fast_entry)(int type) { return EK_TILES_FAST_FOR(type); }

int EK_FN(tiles_widened_entry)(int type) { return EK_TILES_WIDENED_FOR(type); }

void EK_FN(widen_q8_entry)(int terms, const int8_t *q, int64_t term_values, int64_t n, int16_t *out) {
    EK_WIDEN_Q8(terms, q, term_values, n, out);
}

void EK_FN(tiles_matvec_entry)(int type, const void *tiles, size_t tile_bytes, int64_t groups, int64_t nb, int terms,
                               const int8_t *q, const float *d, const float *s, const int16_t *wide, float *y) {
    EK_TILES_MATVEC(type, (const uint8_t *)tiles, tile_bytes, groups, nb, terms, 32 * nb, q, d, s, wide, y);
}

void EK_FN(tiles_matmul_entry)(int type, const void *tiles, size_t tile_bytes, int64_t groups, int64_t nb, int64_t tokens,
                               int terms, const int8_t *q, const float *d, const float *s, const int16_t *wide, float *y,
                               int64_t ldy) {
    EK_TILES_MATMUL(type, (const uint8_t *)tiles, tile_bytes, groups, nb, tokens, terms, q, d, s, wide, y, ldy);
}

void EK_FN(quantize_q8_wide_entry)(const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s) {
    EK_QUANTIZE_Q8_WIDE(x, n, term_values, q, d, s);
}

void EK_FN(attention_heads_entry)(const float *q, int64_t heads, const float *kt, int64_t ldk, const float *v, int64_t hd,
                                  int64_t n,
                                  float scale, float *scores, float *out) {
    EK_FN(attention_heads)(q, heads, kt, ldk, v, hd, n, scale, scores, out);
}
