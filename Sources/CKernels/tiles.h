// Kernels on row-interleaved tiles (see `ek_tiles_pack` in ckernels.h), included by each
// variant's file after generic.h (and x86.h). The AVX-512 VNNI variant (EK_TILES_VNNI512) and
// the AVX2 one (EK_TILES_AVX2) bring their own kernels; the others run the generic
// ones, which only the tests call (`ek_tiles_fast` is 0 for them, so the engine keeps the row
// layout there).
//
// Tile of 16 rows × one block of 32 values: the 16 rows' scales d (F16), for Q4_1 their mins
// m (F16), then the quants in chunks of 64 bytes whose 4-byte lane r holds 4 consecutive quant
// bytes of row r: chunk c (Q4: c < 4) holds bytes 4c…4c+3 of the 16 nibble bytes, so its low
// nibbles are values 4c…4c+3 and its high nibbles values 16+4c…16+4c+3; Q8 (c < 8) holds
// values 4c…4c+3. So one 32-bit broadcast of the activation meets 16 rows at once.

static inline int ek_tile_quants_at(int type) { return type == ek_type_q4_1 ? 64 : 32; }

/// The integer sum of row r of a tile with activation block x.
static inline int32_t ek_tile_isum(int type, const uint8_t *t, int r, const int8_t *x) {
    const uint8_t *qs = t + ek_tile_quants_at(type);
    int32_t isum = 0;
    if (type == ek_type_q8_0) {
        for (int c = 0; c < 8; c++)
            for (int k = 0; k < 4; k++) isum += (int8_t)qs[64 * c + 4 * r + k] * x[4 * c + k];
    } else {
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 4; k++) {
                const uint8_t byte = qs[64 * c + 4 * r + k];
                isum += (byte & 15) * x[4 * c + k] + (byte >> 4) * x[16 + 4 * c + k];
            }
    }
    return isum;
}

/// One block's contribution to row r: Q4_0 d_w·(d_x·Σu·q − 8·s_x), Q4_1 d_w·d_x·Σu·q + m_w·s_x,
/// Q8_0 d_w·d_x·Σw·q.
static inline float ek_tile_term(int type, const uint8_t *t, int r, int32_t isum, float dx, float sx) {
    const float dw = ek_load_half(t + 2 * r);
    switch (type) {
    case ek_type_q4_0: return dw * (dx * (float)isum - 8 * sx);
    case ek_type_q4_1: return dw * dx * (float)isum + ek_load_half(t + 32 + 2 * r) * sx;
    default: return dw * dx * (float)isum;
    }
}

/// The integer sum of row r with activation block b in `terms` terms (see
/// ek_quantize_q8_wide: two are the 16-bit quants' high and low bytes, the second
/// `term_values` after the first), and where that sum's scale and activation sum are.
static inline int32_t ek_tile_wide_isum(int type, const uint8_t *t, int r, int terms, const int8_t *q, int64_t b,
                                        int64_t term_values, int64_t *at) {
    const int32_t isum = ek_tile_isum(type, t, r, q + 32 * b);
    *at = b + (terms - 1) * (term_values / 32);
    return terms == 1 ? isum : 256 * isum + ek_tile_isum(type, t, r, q + term_values + 32 * b);
}

/// One token; `terms` (1 or 2) activation terms.
static __attribute__((unused)) void EK_FN(tiles_matvec_g)(int type, const uint8_t *tiles, size_t tile_bytes, int64_t groups,
                                                          int64_t nb, int terms, int64_t term_values, const int8_t *q,
                                                          const float *d, const float *s, const int16_t *wide, float *y) {
    (void)wide;
    for (int64_t g = 0; g < groups; g++) {
        float acc[16] = {0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *t = tiles + (size_t)(g * nb + b) * tile_bytes;
            for (int r = 0; r < 16; r++) {
                int64_t at;
                const int32_t isum = ek_tile_wide_isum(type, t, r, terms, q, b, term_values, &at);
                acc[r] += ek_tile_term(type, t, r, isum, d[at], s[at]);
            }
        }
        memcpy(y + 16 * g, acc, sizeof acc);
    }
}

static __attribute__((unused)) void EK_FN(tiles_matmul_g)(int type, const uint8_t *tiles, size_t tile_bytes, int64_t groups,
                                                          int64_t nb, int64_t tokens, int terms, const int8_t *q,
                                                          const float *d, const float *s, const int16_t *wide, float *y,
                                                          int64_t ldy) {
    for (int64_t t = 0; t < tokens; t++)
        EK_FN(tiles_matvec_g)(type, tiles, tile_bytes, groups, nb, terms, 32 * nb * tokens, q + 32 * nb * t, d + nb * t,
                              s + nb * t, wide, y + ldy * t);
}

/// out = the activation widened to 16 bits, each 4 values as (x₀, x₂, x₁, x₃) (see ek_widen_q8).
static __attribute__((unused)) void EK_FN(widen_q8_g)(int terms, const int8_t *q, int64_t term_values, int64_t n,
                                                      int16_t *out) {
    static const int order[4] = {0, 2, 1, 3};
    for (int64_t j = 0; j < n; j++) {
        const int64_t from = j - j % 4 + order[j % 4];
        out[j] = (int16_t)(terms == 2 ? 256 * q[from] + q[term_values + from] : q[from]);
    }
}

#if defined(EK_TILES_VNNI512)
/// 16 rows' integer sums of one tile with one activation block (two dependency chains).
static inline __m512i ek_tile_isums16(int type, const uint8_t *qs, const int8_t *x) {
    int32_t x4[8];
    memcpy(x4, x, 32);
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
    if (type == ek_type_q8_0) {
        // Signed weights made unsigned (w + 128, by flipping the sign bit); the 128·Σx this
        // adds comes off with the scales.
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        for (int c = 0; c < 8; c += 2) {
            a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_loadu_si512(qs + 64 * c), flip), _mm512_set1_epi32(x4[c]));
            b = _mm512_dpbusd_epi32(b, _mm512_xor_si512(_mm512_loadu_si512(qs + 64 * c + 64), flip), _mm512_set1_epi32(x4[c + 1]));
        }
    } else {
        const __m512i m4 = _mm512_set1_epi8(15);
        for (int c = 0; c < 4; c++) {
            const __m512i w = _mm512_loadu_si512(qs + 64 * c);
            a = _mm512_dpbusd_epi32(a, _mm512_and_si512(w, m4), _mm512_set1_epi32(x4[c]));
            b = _mm512_dpbusd_epi32(b, _mm512_and_si512(_mm512_srli_epi16(w, 4), m4), _mm512_set1_epi32(x4[4 + c]));
        }
    }
    return _mm512_add_epi32(a, b);
}

/// A tile's 16 F16 scales (`at` 0) or Q4_1 mins (`at` 32), widened.
static inline __m512 ek_tile_scales16(const uint8_t *t, int at) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(t + at)));
}

/// What a tile term multiplies the activation block's sum by (see ek_tile_term): powers of two,
/// so that the product is exact.
static inline float ek_tile_sum_factor(int type) {
    return type == ek_type_q4_0 ? 8 : type == ek_type_q8_0 ? 128 : 1;
}

/// acc += one token's block terms for 16 rows, with the weights' scales `dw` (and Q4_1's
/// mins `mw`) already widened and the activation's sum already multiplied by the type's factor
/// (`fs`).
static inline __attribute__((always_inline)) __m512 ek_tile_terms16_wide(int type, __m512 dw, __m512 mw, __m512i isums,
                                                                         float dx, float fs, __m512 acc) {
    const __m512 f = _mm512_cvtepi32_ps(isums);
    if (type == ek_type_q4_1) return _mm512_fmadd_ps(mw, _mm512_set1_ps(fs), _mm512_fmadd_ps(dw, _mm512_mul_ps(f, _mm512_set1_ps(dx)), acc));
    return _mm512_fmadd_ps(dw, _mm512_fmsub_ps(f, _mm512_set1_ps(dx), _mm512_set1_ps(fs)), acc);
}

/// acc += the block's terms for 16 rows (see ek_tile_term).
static inline __m512 ek_tile_terms16(int type, const uint8_t *t, __m512i isums, float dx, float sx, __m512 acc) {
    const __m512 mw = type == ek_type_q4_1 ? ek_tile_scales16(t, 32) : _mm512_setzero_ps();
    return ek_tile_terms16_wide(type, ek_tile_scales16(t, 0), mw, isums, dx, ek_tile_sum_factor(type) * sx, acc);
}

/// One group after the other, tiles in memory order: a single stream the hardware prefetcher
/// follows (two groups interleaved, for independent chains, read memory at half the speed:
/// 7–9 against 18 GB/s measured on Zen 4). Two terms: one integer sum 256·Σ₁ + Σ₂ (see
/// ek_quantize_q8_wide), one conversion and one scaling.
static void EK_FN(tiles_matvec_x)(int type, const uint8_t *tiles, size_t tile_bytes, int64_t groups, int64_t nb,
                                  int terms, int64_t term_values, const int8_t *q, const float *d, const float *s,
                                  const int16_t *wide, float *y) {
    (void)wide;
    const int qoff = ek_tile_quants_at(type);
    const int64_t second = terms == 2 ? term_values / 32 : 0;
    for (int64_t g = 0; g < groups; g++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *t = tiles + (size_t)(g * nb + b) * tile_bytes;
            __m512i isums = ek_tile_isums16(type, t + qoff, q + 32 * b);
            if (terms == 2)
                isums = _mm512_add_epi32(_mm512_slli_epi32(isums, 8), ek_tile_isums16(type, t + qoff, q + term_values + 32 * b));
            acc = ek_tile_terms16(type, t, isums, d[second + b], s[second + b], acc);
        }
        _mm512_storeu_ps(y + 16 * g, acc);
    }
}

/// Tokens at a time in the batched product: their accumulators stay in registers while each
/// tile's weights are unpacked once.
#define EK_TILE_TOKENS 8

/// The eight u8·s8 dot products of a tile's unpacked quants with one activation block, added to
/// `from` (two dependency chains).
static inline __m512i ek_tile_dots(__m512i from, const __m512i w[8], const int8_t *x) {
    int32_t x4[8];
    memcpy(x4, x, 32);
    __m512i a = _mm512_dpbusd_epi32(from, w[0], _mm512_set1_epi32(x4[0]));
    __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], _mm512_set1_epi32(x4[1]));
    a = _mm512_dpbusd_epi32(a, w[2], _mm512_set1_epi32(x4[2]));
    c = _mm512_dpbusd_epi32(c, w[3], _mm512_set1_epi32(x4[3]));
    a = _mm512_dpbusd_epi32(a, w[4], _mm512_set1_epi32(x4[4]));
    c = _mm512_dpbusd_epi32(c, w[5], _mm512_set1_epi32(x4[5]));
    a = _mm512_dpbusd_epi32(a, w[6], _mm512_set1_epi32(x4[6]));
    c = _mm512_dpbusd_epi32(c, w[7], _mm512_set1_epi32(x4[7]));
    return _mm512_add_epi32(a, c);
}

/// A tile's quants as the u8 operands of `vpdpbusd`: Q4 nibbles (low, then high), Q8 bytes
/// made unsigned.
static inline __attribute__((always_inline)) void ek_tile_unpack(int type, const uint8_t *qs, __m512i w[8]) {
    if (type == ek_type_q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        for (int c = 0; c < 8; c++) w[c] = _mm512_xor_si512(_mm512_loadu_si512(qs + 64 * c), flip);
    } else {
        const __m512i m4 = _mm512_set1_epi8(15);
        for (int c = 0; c < 4; c++) {
            const __m512i v = _mm512_loadu_si512(qs + 64 * c);
            w[c] = _mm512_and_si512(v, m4);
            w[4 + c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
    }
}

/// `n` tokens (≤ EK_TILE_TOKENS) of the batch, from block `first` of the activation, against
/// one group of 16 rows, each tile's weights unpacked (and its scales widened) once for all of
/// them. Inlined where `n` is a constant, the loops over tokens unroll and the tokens'
/// accumulators stay in registers (with `n` known only at run time, they lived on the stack: a
/// store and a load per token and block). A token's arithmetic is the same whatever `n`: a
/// prompt's results do not depend on where its batches were cut. `dx` and `s` are the scales
/// and sums of the term the integer sums are in (the second's with two terms).
static inline __attribute__((always_inline)) void ek_tiles_register_tile(const int type, const int terms, const int n,
                                                                          const uint8_t *tg, size_t tile_bytes, int64_t nb,
                                                                          const int8_t *q, const float *dx, const float *s,
                                                                          int64_t first, int64_t term_blocks, float *y,
                                                                          int64_t ldy) {
    const int qoff = ek_tile_quants_at(type);
    // The sums times the type's factor, once for every group rather than a multiplication per
    // tile and token: 32·nb bytes of stack (28 KiB for the widest products of 70B-class models).
    // Made 64 blocks at a time in a fixed array, the loop below ran 10% slower (Zen 4).
    float fs[EK_TILE_TOKENS * nb];
    const float factor = ek_tile_sum_factor(type);
    for (int64_t i = 0; i < n * nb; i++) fs[i] = factor * s[first + i];
    __m512 acc[EK_TILE_TOKENS];
#pragma clang loop unroll(full)
    for (int i = 0; i < n; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *t = tg + (size_t)b * tile_bytes;
        __m512i w[8];
        ek_tile_unpack(type, t + qoff, w);
        const __m512 dw = ek_tile_scales16(t, 0);
        const __m512 mw = type == ek_type_q4_1 ? ek_tile_scales16(t, 32) : _mm512_setzero_ps();
#pragma clang loop unroll(full)
        for (int i = 0; i < n; i++) {
            const int64_t at = first + nb * i + b;
            __m512i isums = ek_tile_dots(_mm512_setzero_si512(), w, q + 32 * at);
            if (terms == 2) isums = ek_tile_dots(_mm512_slli_epi32(isums, 8), w, q + 32 * (at + term_blocks));
            acc[i] = ek_tile_terms16_wide(type, dw, mw, isums, dx[at], fs[nb * i + b], acc[i]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < n; i++) _mm512_storeu_ps(y + ldy * i, acc[i]);
}

/// A full register tile of EK_TILE_TOKENS tokens, with `type` and `terms` made constants; the
/// last, partial one with `n` a constant.
#define EK_FULL_TILE(T, K) ek_tiles_register_tile(T, K, EK_TILE_TOKENS, tg, tile_bytes, nb, q, dx, sx, first, term_blocks, yt, ldy)
#define EK_LAST_TILE(N) ek_tiles_register_tile(type, terms, N, tg, tile_bytes, nb, q, dx, sx, first, term_blocks, yt, ldy)

static void EK_FN(tiles_matmul_x)(int type, const uint8_t *tiles, size_t tile_bytes, int64_t groups, int64_t nb,
                                  int64_t tokens, int terms, const int8_t *q, const float *d, const float *s,
                                  const int16_t *wide, float *y, int64_t ldy) {
    (void)wide;
    const int64_t term_blocks = nb * tokens;
    const float *dx = d + (terms == 2 ? term_blocks : 0), *sx = s + (terms == 2 ? term_blocks : 0);
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *tg = tiles + (size_t)(g * nb) * tile_bytes;
        for (int64_t t0 = 0; t0 < tokens; t0 += EK_TILE_TOKENS) {
            const int64_t first = nb * t0;
            float *yt = y + ldy * t0 + 16 * g;
            if (tokens - t0 < EK_TILE_TOKENS) { // the batch's last tokens, n of them
                switch (tokens - t0) {
                case 1: EK_LAST_TILE(1); break;
                case 2: EK_LAST_TILE(2); break;
                case 3: EK_LAST_TILE(3); break;
                case 4: EK_LAST_TILE(4); break;
                case 5: EK_LAST_TILE(5); break;
                case 6: EK_LAST_TILE(6); break;
                default: EK_LAST_TILE(7); break;
                }
                continue;
            }
            switch (type * 2 + (terms == 2)) {
            case ek_type_q4_0 * 2: EK_FULL_TILE(ek_type_q4_0, 1); break;
            case ek_type_q4_0 * 2 + 1: EK_FULL_TILE(ek_type_q4_0, 2); break;
            case ek_type_q4_1 * 2: EK_FULL_TILE(ek_type_q4_1, 1); break;
            case ek_type_q4_1 * 2 + 1: EK_FULL_TILE(ek_type_q4_1, 2); break;
            case ek_type_q8_0 * 2: EK_FULL_TILE(ek_type_q8_0, 1); break;
            case ek_type_q8_0 * 2 + 1: EK_FULL_TILE(ek_type_q8_0, 2); break;
            default: EK_FULL_TILE(type, terms); break;
            }
        }
    }
}
#undef EK_FULL_TILE
#undef EK_LAST_TILE

#define EK_TILES_MATVEC EK_FN(tiles_matvec_x)
#define EK_TILES_MATMUL EK_FN(tiles_matmul_x)
#define EK_TILES_FAST_FOR(type) 1
#elif defined(EK_TILES_AVX2)
// AVX2 without VNNI: u8·s8 products by vpmaddubsw, which sums pairs into saturating 16-bit
// lanes. A Q4 quant (0…15) times an activation byte (−128…127: the low byte of a second term,
// ±127 otherwise) makes at most 2·15·128 = 3,840 per lane, so the eight products of one block
// add up in 16 bits (≤ 30,720) before one vpmaddwd widens them. Tiles make decode (one token)
// faster than the row kernels: each broadcast of the activation meets 8 rows. A batch unpacks
// each half tile once for `ek_avx2_tile_tokens` tokens. With a prompt's products of a
// normalized input in one activation term (see WeightTiles in EngramGLM), this beat the float
// product on the tiles that batches took before (forced AVX2 on a Zen 4, SmolLM2 pp512: Q4_0
// 487–489 against 408–418 tokens/s at 1 thread, 938 against 762 at 2; Q4_1 476 against
// 390–418); with two terms for every product it had been slower than dequantizing for
// cblas_sgemm (Zen 3: 421–471 against 531 prompt tokens/s, 194 tokens, 2 threads, one token
// at a time). Q8_0's signed quants leave no 16-bit headroom for vpmaddubsw (2·127·127 =
// 32,258 a lane): its tiles take 16-bit products instead (below). A tile's 16 rows are taken
// as two halves of 8 (32-byte lane groups).

/// Half `h` (rows 8h…8h+7) of a Q4 tile's quants unpacked: w[c] the low nibbles of chunk c
/// (values 4c…4c+3), w[4 + c] the high ones (values 16+4c…16+4c+3).
static inline void ek_tile_unpack8(const uint8_t *qs, int h, __m256i w[8]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int c = 0; c < 4; c++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 64 * c + 32 * h));
        w[c] = _mm256_and_si256(v, m4);
        w[4 + c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
}

/// The 8 rows' integer sums of unpacked quants with one activation block.
static inline __m256i ek_tile_dots8(const __m256i w[8], const int8_t *x) {
    int32_t x4[8];
    memcpy(x4, x, 32);
    __m256i a = _mm256_maddubs_epi16(w[0], _mm256_set1_epi32(x4[0]));
    __m256i b = _mm256_maddubs_epi16(w[4], _mm256_set1_epi32(x4[4]));
    for (int c = 1; c < 4; c++) {
        a = _mm256_add_epi16(a, _mm256_maddubs_epi16(w[c], _mm256_set1_epi32(x4[c])));
        b = _mm256_add_epi16(b, _mm256_maddubs_epi16(w[4 + c], _mm256_set1_epi32(x4[4 + c])));
    }
    return _mm256_madd_epi16(_mm256_add_epi16(a, b), _mm256_set1_epi16(1));
}

static inline __m256 ek_tile_scales8(const uint8_t *at) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)at));
}

/// acc += the block's terms for rows 8h…8h+7 (see ek_tile_term).
static inline __m256 ek_tile_terms8(int type, const uint8_t *t, int h, __m256 f, float dx, float sx, __m256 acc) {
    const __m256 dw = ek_tile_scales8(t + 16 * h);
    if (type == ek_type_q4_0) return _mm256_fmadd_ps(dw, _mm256_fmsub_ps(f, _mm256_set1_ps(dx), _mm256_set1_ps(8 * sx)), acc);
    acc = _mm256_fmadd_ps(dw, _mm256_mul_ps(f, _mm256_set1_ps(dx)), acc);
    return _mm256_fmadd_ps(ek_tile_scales8(t + 32 + 16 * h), _mm256_set1_ps(sx), acc);
}

// Q8_0 by 16-bit products (vpmaddwd): the weights' bytes sign-extended in place, the
// activation widened to 16 bits once per product (ek_widen_q8: one term, its 8-bit quants;
// two, the 16-bit quants 256·q₁ + q₂ of ek_quantize_q8_wide, whose integer sums are exactly
// those of the two terms). Each vpmaddwd adds two products per row lane with no saturation
// (|w·x| ≤ 128·32,512), and a block's sums stay within 32 bits. A chunk's 32-bit lane r holds
// row r's values 4c…4c+3: the even bytes sign-extended give (v₀, v₂), the odd ones (v₁, v₃),
// so the widened activation holds each 4 as (x₀, x₂, x₁, x₃) and each pair is one 32-bit
// broadcast. Against the float product on the rows (dequantize, then cblas_sgemm) that Q8_0
// prompts took before (forced AVX2 on a Zen 4, SmolLM2 Q8_0 pp512): 500 against 424–428
// tokens/s on one thread, 938–942 against 754–807 on two; pp16 476–480 against 266–267 (one
// thread); decode (tg128) 146–149 against 140–144 on one thread, 170–206 against 172–213 on
// two (alternating pairs on a noisy VM: 1–8% slower in each pair).

/// Tokens of a batch that meet each unpacked Q8_0 chunk: their block sums and accumulators
/// stay in registers (2 a token, beside the chunk's 2 and the broadcasts). 4 and 6 were slower.
enum { ek_avx2_q8_tokens = 5 };

/// Groups of Q8_0 tiles a batch's tokens meet before the next groups (16 KiB of weights a group
/// for every 1,024 columns, read again from cache for each `ek_avx2_q8_tokens` tokens; 1, 2
/// and 4 were slower on one thread, Zen 4: 478–487 and 496–497 against 503–504 tokens/s).
enum { ek_avx2_q8_groups = 16 };

static void EK_FN(widen_q8_x)(int terms, const int8_t *q, int64_t term_values, int64_t n, int16_t *out) {
    // Within each 128-bit lane of 8 16-bit values, (x₀, x₁, x₂, x₃) → (x₀, x₂, x₁, x₃) twice.
    const __m256i order = _mm256_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15,
                                           0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
    for (int64_t j = 0; j < n; j += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(q + j)));
        if (terms == 2)
            x = _mm256_add_epi16(_mm256_slli_epi16(x, 8),
                                 _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(q + term_values + j))));
        _mm256_storeu_si256((__m256i *)(void *)(out + j), _mm256_shuffle_epi8(x, order));
    }
}

/// Rows 8h…8h+7 of a group of Q8_0 tiles for `nt` tokens (a constant where it is called; token i
/// widened at `x16 + i·32·nb`, its block b's scale at `dx[i·nb + b]`): each chunk's weights
/// sign-extended once for all of them. A token's arithmetic is the same whatever `nt`:
/// dw·(dx·Σ) added block after block, as in the other variants.
static inline __attribute__((always_inline)) void ek_q8_rows8_tokens(const int nt, const uint8_t *tg, size_t tile_bytes,
                                                                     int h, int64_t nb, const int16_t *x16,
                                                                     const float *dx, float *y, int64_t ldy) {
    const int64_t cols = 32 * nb;
    __m256 acc[ek_avx2_q8_tokens];
#pragma clang loop unroll(full)
    for (int i = 0; i < nt; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *t = tg + (size_t)b * tile_bytes;
        __m256i isum[ek_avx2_q8_tokens];
#pragma clang loop unroll(full)
        for (int c = 0; c < 8; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(t + 32 + 64 * c + 32 * h));
            const __m256i even = _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), odd = _mm256_srai_epi16(v, 8);
#pragma clang loop unroll(full)
            for (int i = 0; i < nt; i++) {
                int32_t x02, x13;
                memcpy(&x02, x16 + cols * i + 32 * b + 4 * c, 4);
                memcpy(&x13, x16 + cols * i + 32 * b + 4 * c + 2, 4);
                const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(even, _mm256_set1_epi32(x02)),
                                                   _mm256_madd_epi16(odd, _mm256_set1_epi32(x13)));
                isum[i] = c == 0 ? p : _mm256_add_epi32(isum[i], p);
            }
        }
        const __m256 dw = ek_tile_scales8(t + 16 * h);
#pragma clang loop unroll(full)
        for (int i = 0; i < nt; i++)
            acc[i] = _mm256_fmadd_ps(dw, _mm256_mul_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_set1_ps(dx[nb * i + b])), acc[i]);
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < nt; i++) _mm256_storeu_ps(y + ldy * i + 8 * h, acc[i]);
}

/// Q8_0 tiles for `tokens` tokens (one with `tokens` 1) widened at `x16`: `ek_avx2_q8_groups`
/// groups at a time, met by `ek_avx2_q8_tokens` tokens at a time.
static void ek_q8_tiles_matmul(const uint8_t *tiles, size_t tile_bytes, int64_t groups, int64_t nb, int64_t tokens,
                               int terms, const int16_t *x16, const float *d, float *y, int64_t ldy) {
    const int64_t cols = 32 * nb;
    const float *dx = d + (terms == 2 ? nb * tokens : 0);
    for (int64_t g0 = 0; g0 < groups; g0 += ek_avx2_q8_groups) {
        const int64_t g1 = groups - g0 < ek_avx2_q8_groups ? groups : g0 + ek_avx2_q8_groups;
        for (int64_t t0 = 0; t0 < tokens; t0 += ek_avx2_q8_tokens)
            for (int64_t g = g0; g < g1; g++)
                for (int h = 0; h < 2; h++) {
                    const uint8_t *tg = tiles + (size_t)(g * nb) * tile_bytes;
                    float *yt = y + ldy * t0 + 16 * g;
                    if (tokens - t0 >= ek_avx2_q8_tokens) {
                        ek_q8_rows8_tokens(ek_avx2_q8_tokens, tg, tile_bytes, h, nb, x16 + cols * t0, dx + nb * t0, yt, ldy);
                        continue;
                    }
                    for (int64_t t = t0; t < tokens; t++) // the batch's last few tokens
                        ek_q8_rows8_tokens(1, tg, tile_bytes, h, nb, x16 + cols * t, dx + nb * t, y + ldy * t + 16 * g, ldy);
                }
    }
}

/// Q4: tiles in memory order, both halves of each. Q8_0: ek_q8_tiles_matmul for one token.
static void EK_FN(tiles_matvec_x)(int type, const uint8_t *tiles, size_t tile_bytes, int64_t groups, int64_t nb,
                                  int terms, int64_t term_values, const int8_t *q, const float *d, const float *s,
                                  const int16_t *wide, float *y) {
    if (type == ek_type_q8_0) {
        ek_q8_tiles_matmul(tiles, tile_bytes, groups, nb, 1, terms, wide, d, y, 16 * groups);
        return;
    }
    const int qoff = ek_tile_quants_at(type);
    const int64_t second = terms == 2 ? term_values / 32 : 0;
    for (int64_t g = 0; g < groups; g++) {
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *t = tiles + (size_t)(g * nb + b) * tile_bytes;
            for (int h = 0; h < 2; h++) {
                __m256i w[8];
                ek_tile_unpack8(t + qoff, h, w);
                // Two terms: one integer sum 256·Σ₁ + Σ₂ (see ek_quantize_q8_wide).
                __m256i isums = ek_tile_dots8(w, q + 32 * b);
                if (terms == 2)
                    isums = _mm256_add_epi32(_mm256_slli_epi32(isums, 8), ek_tile_dots8(w, q + term_values + 32 * b));
                acc[h] = ek_tile_terms8(type, t, h, _mm256_cvtepi32_ps(isums), d[second + b], s[second + b], acc[h]);
            }
        }
        _mm256_storeu_ps(y + 16 * g, acc[0]);
        _mm256_storeu_ps(y + 16 * g + 8, acc[1]);
    }
}

/// Tokens of a batch that meet each unpacked half tile (its 8 quant vectors stay in registers
/// beside their accumulators).
enum { ek_avx2_tile_tokens = 4 };

/// Rows 8h…8h+7 of group `g` for tokens t0…t0+nt−1: each block's quants unpacked once and met
/// by the nt tokens, every token's sums in the order of `tiles_matvec_x` (the same bits).
/// Inlined where `type`, `terms` and `nt` are constants (see EK_AVX2_TILE): the loop over
/// tokens unrolls and the accumulators stay in registers. With them known only at run time,
/// the accumulators lived on the stack and every token's block term waited on a store and a
/// load (forced AVX2 on a Zen 4, SmolLM2 Q4_0 pp512 one thread, alternating: 492–497 against
/// 532–540 tokens/s).
static inline __attribute__((always_inline)) void ek_tile_rows8_tokens(const int type, const int terms, const int nt,
                                                                       const uint8_t *tiles, size_t tile_bytes, int64_t g,
                                                                       int h, int64_t nb, int64_t t0, int64_t term_values,
                                                                       int64_t second, const int8_t *q, const float *d,
                                                                       const float *s, float *y, int64_t ldy) {
    const int qoff = ek_tile_quants_at(type);
    __m256 acc[ek_avx2_tile_tokens];
#pragma clang loop unroll(full)
    for (int i = 0; i < nt; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *t = tiles + (size_t)(g * nb + b) * tile_bytes;
        __m256i w[8];
        ek_tile_unpack8(t + qoff, h, w);
#pragma clang loop unroll(full)
        for (int i = 0; i < nt; i++) {
            const int64_t at = nb * (t0 + i) + b; // token t0+i's block b
            __m256i isums = ek_tile_dots8(w, q + 32 * at);
            if (terms == 2)
                isums = _mm256_add_epi32(_mm256_slli_epi32(isums, 8), ek_tile_dots8(w, q + term_values + 32 * at));
            acc[i] = ek_tile_terms8(type, t, h, _mm256_cvtepi32_ps(isums), d[second + at], s[second + at], acc[i]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < nt; i++) _mm256_storeu_ps(y + ldy * (t0 + i) + 16 * g + 8 * h, acc[i]);
}

/// ek_tile_rows8_tokens with `type`, `terms` and the token count made constants.
#define EK_AVX2_TILE(T, K, N)                                                                                            \
    ek_tile_rows8_tokens(T, K, N, tiles, tile_bytes, g, h, nb, t0, term_values, second, q, d, s, y, ldy)

/// A batch: Q4 tiles unpacked once for `ek_avx2_tile_tokens` tokens at a time; Q8_0 by
/// ek_q8_tiles_matmul.
static void EK_FN(tiles_matmul_x)(int type, const uint8_t *tiles, size_t tile_bytes, int64_t groups, int64_t nb,
                                  int64_t tokens, int terms, const int8_t *q, const float *d, const float *s,
                                  const int16_t *wide, float *y, int64_t ldy) {
    if (type == ek_type_q8_0) {
        ek_q8_tiles_matmul(tiles, tile_bytes, groups, nb, tokens, terms, wide, d, y, ldy);
        return;
    }
    const int64_t term_values = 32 * nb * tokens, second = terms == 2 ? term_values / 32 : 0;
    const int two = terms == 2, q4_0 = type == ek_type_q4_0;
    for (int64_t g = 0; g < groups; g++)
        for (int h = 0; h < 2; h++) {
            int64_t t0 = 0;
            for (; t0 + ek_avx2_tile_tokens <= tokens; t0 += ek_avx2_tile_tokens) {
                if (q4_0) {
                    if (two) EK_AVX2_TILE(ek_type_q4_0, 2, ek_avx2_tile_tokens);
                    else EK_AVX2_TILE(ek_type_q4_0, 1, ek_avx2_tile_tokens);
                } else {
                    if (two) EK_AVX2_TILE(ek_type_q4_1, 2, ek_avx2_tile_tokens);
                    else EK_AVX2_TILE(ek_type_q4_1, 1, ek_avx2_tile_tokens);
                }
            }
            for (; t0 < tokens; t0++) EK_AVX2_TILE(type, terms, 1); // the batch's last few tokens
        }
}
#undef EK_AVX2_TILE

#define EK_TILES_MATVEC EK_FN(tiles_matvec_x)
#define EK_TILES_MATMUL EK_FN(tiles_matmul_x)
#define EK_TILES_FAST_FOR(type) 1
#define EK_TILES_WIDENED_FOR(type) ((type) == ek_type_q8_0)
#define EK_WIDEN_Q8 EK_FN(widen_q8_x)
#endif
