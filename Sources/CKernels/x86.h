// Hand-written x86 row kernels for the types the bundled and common models use (Q4_0, Q4_1,
// Q8_0, Q4_K, Q6_K), included by the AVX2 and AVX-512 variants' files after generic.h.
//
// Expects EK_MULSUM(u, s): the 32 products u8·s8 of two 256-bit vectors, summed four by four
// into eight int32 lanes (lane k: bytes 4k…4k+3; so lanes 0–3 cover bytes 0–15). With
// EK_W512, also EK_MULSUM512 (the same on 512 bits), and the Q4/Q8 kernels take two blocks
// per 512-bit step.
//
// Signed × signed products use the sign trick: |w| (unsigned) · (x with w's sign); |w| ≤ 128
// and |x| ≤ 127, so the pairwise int16 sums of `maddubs` never saturate.

static inline float ek_h(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float ek_hsum256(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// The 32 nibbles of a Q4 block as bytes: low nibbles (values 0–15), then high (16–31).
static inline __m256i ek_nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
}

static inline __m256i ek_load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// Q4_0 (block 18 bytes, quants at 2, offset 8) and Q4_1 (20 bytes, quants at 4, a min):
/// the unsigned nibbles meet x directly; Q4_0's offset comes off as 8·d_w·s_x.
static inline float ek_row_q4(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s,
                              const int bb, const int qoff, const int has_min) {
    float accm = 0;
    int64_t b = 0;
#if EK_W512
    __m512 acc = _mm512_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = row + bb * b, *p1 = p0 + bb;
        const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(ek_nibbles(p0 + qoff)), ek_nibbles(p1 + qoff), 1);
        const __m512i sums = EK_MULSUM512(w, _mm512_loadu_si512((const void *)(q + 32 * b)));
        const float dw0 = ek_h(p0), dw1 = ek_h(p1);
        const __m512 scale = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(dw0 * d[b])),
                                                _mm256_set1_ps(dw1 * d[b + 1]), 1);
        acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), acc);
        accm += has_min ? ek_h(p0 + 2) * s[b] + ek_h(p1 + 2) * s[b + 1] : -8 * (dw0 * s[b] + dw1 * s[b + 1]);
    }
    float total = _mm512_reduce_add_ps(acc);
#else
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = row + bb * b, *p1 = p0 + bb;
        const __m256i s0 = EK_MULSUM(ek_nibbles(p0 + qoff), ek_load256(q + 32 * b));
        const __m256i s1 = EK_MULSUM(ek_nibbles(p1 + qoff), ek_load256(q + 32 * b + 32));
        const float dw0 = ek_h(p0), dw1 = ek_h(p1);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(dw0 * d[b]), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(dw1 * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
        accm += has_min ? ek_h(p0 + 2) * s[b] + ek_h(p1 + 2) * s[b + 1] : -8 * (dw0 * s[b] + dw1 * s[b + 1]);
    }
    float total = ek_hsum256(_mm256_add_ps(acc0, acc1));
#endif
    if (b < nb) {
        const uint8_t *p = row + bb * b;
        const __m256i sum = EK_MULSUM(ek_nibbles(p + qoff), ek_load256(q + 32 * b));
        const float dw = ek_h(p);
        total += ek_hsum256(_mm256_cvtepi32_ps(sum)) * dw * d[b];
        accm += has_min ? ek_h(p + 2) * s[b] : -8 * dw * s[b];
    }
    return total + accm;
}

static inline float EK_FN(row_q4_0)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    return ek_row_q4(row, nb, q, d, s, 18, 2, 0);
}

static inline float EK_FN(row_q4_1)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    return ek_row_q4(row, nb, q, d, s, 20, 4, 1);
}

/// Σ w·x of 32 signed bytes each, as eight int32 lanes.
static inline __m256i ek_mulsum_signed(__m256i w, __m256i x) {
    return EK_MULSUM(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

static inline float EK_FN(row_q8_0)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    (void)s;
    int64_t b = 0;
#if EK_W512
    __m512 acc = _mm512_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = row + 34 * b, *p1 = p0 + 34;
        const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(ek_load256(p0 + 2)), ek_load256(p1 + 2), 1);
        const __m512i x = _mm512_loadu_si512((const void *)(q + 32 * b));
        const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
        const __m512i sums = EK_MULSUM512(_mm512_abs_epi8(w), xs);
        const __m512 scale = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(ek_h(p0) * d[b])),
                                                _mm256_set1_ps(ek_h(p1) * d[b + 1]), 1);
        acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), acc);
    }
    float total = _mm512_reduce_add_ps(acc);
#else
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = row + 34 * b, *p1 = p0 + 34;
        const __m256i s0 = ek_mulsum_signed(ek_load256(p0 + 2), ek_load256(q + 32 * b));
        const __m256i s1 = ek_mulsum_signed(ek_load256(p1 + 2), ek_load256(q + 32 * b + 32));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(ek_h(p0) * d[b]), _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(ek_h(p1) * d[b + 1]), _mm256_cvtepi32_ps(s1), acc1);
    }
    float total = ek_hsum256(_mm256_add_ps(acc0, acc1));
#endif
    if (b < nb) {
        const uint8_t *p = row + 34 * b;
        total += ek_hsum256(_mm256_cvtepi32_ps(ek_mulsum_signed(ek_load256(p + 2), ek_load256(q + 32 * b)))) * ek_h(p) * d[b];
    }
    return total;
}

static inline float EK_FN(row_q4_K)(const uint8_t *row, int64_t nb32, const int8_t *q, const float *d, const float *s) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float accm = 0;
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int64_t blk = 0; blk < nb32 / 8; blk++) {
        const uint8_t *p = row + 144 * blk, *scales = p + 4;
        const float dw = ek_h(p), dmin = ek_h(p + 2);
        for (int c = 0; c < 4; c++) {
            const __m256i w = ek_load256(p + 16 + 32 * c);
            const int64_t b0 = 8 * blk + 2 * c, b1 = b0 + 1;
            float sc0, m0, sc1, m1;
            ek_k_scale_min(scales, 2 * c, &sc0, &m0);
            ek_k_scale_min(scales, 2 * c + 1, &sc1, &m1);
            const __m256i lo = EK_MULSUM(_mm256_and_si256(w, m4), ek_load256(q + 32 * b0));
            const __m256i hi = EK_MULSUM(_mm256_and_si256(_mm256_srli_epi16(w, 4), m4), ek_load256(q + 32 * b1));
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(dw * sc0 * d[b0]), _mm256_cvtepi32_ps(lo), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(dw * sc1 * d[b1]), _mm256_cvtepi32_ps(hi), acc1);
            accm += dmin * (m0 * s[b0] + m1 * s[b1]);
        }
    }
    return ek_hsum256(_mm256_add_ps(acc0, acc1)) - accm;
}

static inline float EK_FN(row_q6_K)(const uint8_t *row, int64_t nb32, const int8_t *q, const float *d, const float *s) {
    (void)s;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), c32 = _mm256_set1_epi8(32);
    for (int64_t blk = 0; blk < nb32 / 8; blk++) {
        const uint8_t *p = row + 210 * blk;
        const float dw = ek_h(p + 208);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = p + 64 * half, *qh = p + 128 + 32 * half;
            const int8_t *sc = (const int8_t *)(p + 192 + 8 * half);
            const int64_t b = 8 * blk + 4 * half;
            const __m256i l0 = ek_load256(ql), l1 = ek_load256(ql + 32), h = ek_load256(qh);
            // Value bytes 0…63, the four quarters of this half: nibble | two high bits << 4.
            const __m256i v[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4)),
            };
            for (int i = 0; i < 4; i++) {
                const __m256i sums = ek_mulsum_signed(_mm256_sub_epi8(v[i], c32), ek_load256(q + 32 * (b + i)));
                const float f = dw * d[b + i];
                // Lanes 0–3 hold values 0–15 (scale sc[2i]), lanes 4–7 values 16–31 (sc[2i+1]).
                const __m256 scale = _mm256_set_m128(_mm_set1_ps(f * (float)sc[2 * i + 1]), _mm_set1_ps(f * (float)sc[2 * i]));
                if (i & 1) acc1 = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums), acc1);
                else acc0 = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums), acc0);
            }
        }
    }
    return ek_hsum256(_mm256_add_ps(acc0, acc1));
}

// MARK: Quantization (bit for bit ek_quantize_block; the generic loops did not vectorize and
// took 11% of a prompt's time, on one thread, before each product)

static inline int32_t ek_hmax_epi32(__m256i v) {
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(m);
}

static inline int32_t ek_hsum_epi32(__m256i v) {
    __m128i m = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(m);
}

/// The largest |x| of a block, as the largest of the magnitudes' bits, which orders finite
/// floats as the floats do and puts ∞ and NaN above them all (`*nonfinite` then set).
static inline float ek_block_amax_x86(const __m256 x[4], int *nonfinite) {
    const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i bits = _mm256_and_si256(_mm256_castps_si256(x[0]), magnitude);
    for (int i = 1; i < 4; i++) bits = _mm256_max_epi32(bits, _mm256_and_si256(_mm256_castps_si256(x[i]), magnitude));
    const int32_t top = ek_hmax_epi32(bits);
    *nonfinite = top >= 0x7F800000;
    float amax;
    memcpy(&amax, &top, 4);
    return amax;
}

/// 32 int32 lanes → int8 in order (no saturation happens: the callers' values fit), back in
/// order after the lane-wise packs.
static inline void ek_store_int8_x86(const __m256i v[4], int8_t *q) {
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256((__m256i *)(void *)q, _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

static inline void ek_load_block_x86(const float *xb, __m256 x[4]) {
    for (int i = 0; i < 4; i++) x[i] = _mm256_loadu_ps(xb + 8 * i);
}

/// One block of 32, bit for bit ek_quantize_block; the conversion rounds to nearest even (the
/// default MXCSR mode, as rintf).
static inline void ek_quantize_block_x86(const float *xb, int8_t *q, float *d, float *s) {
    __m256 x[4];
    ek_load_block_x86(xb, x);
    int nonfinite;
    const float amax = ek_block_amax_x86(x, &nonfinite);
    const float scale = nonfinite ? 0 : amax / 127;
    const int scaled = !nonfinite && scale >= 0x1.0p-126f;
    // (Non-finite blocks multiply nothing: a NaN must never reach the conversion.)
    if (!scaled) memset(x, 0, sizeof x);
    __m256i qi[4];
    const __m256 inv = _mm256_set1_ps(scaled ? 127 / amax : 0);
    for (int i = 0; i < 4; i++) qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(x[i], inv));
    ek_store_int8_x86(qi, q);
    const int32_t sum = ek_hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3])));
    const float kept = _cvtsh_ss(_cvtss_sh(scale, _MM_FROUND_TO_NEAREST_INT));
    *d = nonfinite ? NAN : (scaled ? kept : 0);
    *s = nonfinite ? NAN : *d * (float)sum;
}

static void EK_FN(quantize_q8_x86)(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    for (int64_t b = 0; b < n / 32; b++) ek_quantize_block_x86(x + 32 * b, q + 32 * b, d + b, s + b);
}

#if EK_W512
/// Bit for bit the generic quantize_q8_wide: the 16-bit quants split into bytes, a block in
/// two 512-bit registers (3% of a prompt on one thread in the 256-bit form below).
static void EK_FN(quantize_q8_wide_x86)(const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s) {
    const int64_t nb = n / 32, term_blocks = term_values / 32;
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), half = _mm512_set1_epi32(128);
    for (int64_t b = 0; b < nb; b++) {
        __m512 v[2] = {_mm512_loadu_ps(x + 32 * b), _mm512_loadu_ps(x + 32 * b + 16)};
        // The largest |x| as the largest of the magnitudes' bits (see ek_block_amax_x86).
        const int32_t top = _mm512_reduce_max_epi32(_mm512_max_epi32(_mm512_and_si512(_mm512_castps_si512(v[0]), magnitude),
                                                                     _mm512_and_si512(_mm512_castps_si512(v[1]), magnitude)));
        const int nonfinite = top >= 0x7F800000;
        float amax;
        memcpy(&amax, &top, 4);
        int scaled;
        const float step = ek_wide_step(amax, nonfinite, &scaled);
        if (!scaled) v[0] = v[1] = _mm512_setzero_ps();
        const __m512 inv = _mm512_set1_ps(scaled ? EK_WIDE_MAX / amax : 0);
        __m512i sum = _mm512_setzero_si512(), high = _mm512_setzero_si512();
        for (int i = 0; i < 2; i++) {
            const __m512i wide = _mm512_cvtps_epi32(_mm512_mul_ps(v[i], inv));
            const __m512i hi = _mm512_srai_epi32(_mm512_add_epi32(wide, half), 8);
            const __m512i lo = _mm512_sub_epi32(wide, _mm512_slli_epi32(hi, 8));
            _mm_storeu_si128((__m128i *)(void *)(q + 32 * b + 16 * i), _mm512_cvtepi32_epi8(hi));
            _mm_storeu_si128((__m128i *)(void *)(q + term_values + 32 * b + 16 * i), _mm512_cvtepi32_epi8(lo));
            sum = _mm512_add_epi32(sum, wide);
            high = _mm512_add_epi32(high, hi);
        }
        ek_wide_scales(step, nonfinite, scaled, _mm512_reduce_add_epi32(high), _mm512_reduce_add_epi32(sum), b, term_blocks, d,
                       s);
    }
}
#else
/// Bit for bit the generic quantize_q8_wide: the 16-bit quants split into bytes.
static void EK_FN(quantize_q8_wide_x86)(const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s) {
    const int64_t nb = n / 32, term_blocks = term_values / 32;
    for (int64_t b = 0; b < nb; b++) {
        __m256 v[4];
        ek_load_block_x86(x + 32 * b, v);
        int nonfinite;
        const float amax = ek_block_amax_x86(v, &nonfinite);
        int scaled;
        const float step = ek_wide_step(amax, nonfinite, &scaled);
        if (!scaled) memset(v, 0, sizeof v);
        const __m256 inv = _mm256_set1_ps(scaled ? EK_WIDE_MAX / amax : 0);
        __m256i wide[4], hi[4], lo[4];
        __m256i sum = _mm256_setzero_si256(), high = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            wide[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));
            hi[i] = _mm256_srai_epi32(_mm256_add_epi32(wide[i], _mm256_set1_epi32(128)), 8);
            lo[i] = _mm256_sub_epi32(wide[i], _mm256_slli_epi32(hi[i], 8));
            sum = _mm256_add_epi32(sum, wide[i]);
            high = _mm256_add_epi32(high, hi[i]);
        }
        ek_store_int8_x86(hi, q + 32 * b);
        ek_store_int8_x86(lo, q + term_values + 32 * b);
        ek_wide_scales(step, nonfinite, scaled, ek_hsum_epi32(high), ek_hsum_epi32(sum), b, term_blocks, d, s);
    }
}

#endif

#define EK_QUANTIZE_Q8 EK_FN(quantize_q8_x86)
#define EK_QUANTIZE_Q8_WIDE EK_FN(quantize_q8_wide_x86)

#define EK_ROW_Q4_0 EK_FN(row_q4_0)
#define EK_ROW_Q4_1 EK_FN(row_q4_1)
#define EK_ROW_Q8_0 EK_FN(row_q8_0)
#define EK_ROW_Q4_K EK_FN(row_q4_K)
#define EK_ROW_Q6_K EK_FN(row_q6_K)

static void EK_FN(f16_to_f32)(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(src + i))));
    EK_FN(f16_to_f32_g)(src + i, dst + i, n - i);
}

static void EK_FN(f32_to_f16)(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    EK_FN(f32_to_f16_g)(src + i, dst + i, n - i);
}
