// The entry points each variant's file defines (`variant.h`), for the dispatcher (cpu.c).
#include "ckernels.h"

#define EK_DECLARE_VARIANT(suffix)                                                                        \
    int ek_matvec_q8_entry_##suffix(int, const void *, size_t, int64_t, int64_t, const int8_t *, const float *, \
                                    const float *, float *);                                               \
    int ek_matvec_f32_entry_##suffix(int, const void *, size_t, int64_t, int64_t, const float *, float *); \
    void ek_quantize_q8_entry_##suffix(const float *, int64_t, int8_t *, float *, float *);              \
    void ek_f16_to_f32_entry_##suffix(const uint16_t *, float *, int64_t);                                \
    void ek_f32_to_f16_entry_##suffix(const float *, uint16_t *, int64_t);                                \
    void ek_gelu_entry_##suffix(float *, int64_t);                                                        \
    void ek_layer_norm_entry_##suffix(float *, const float *, const float *, const float *, int64_t, int64_t, float); \
    void ek_softmax_rows_entry_##suffix(float *, int64_t, int64_t, int64_t);                              \
    int ek_dequantize_entry_##suffix(int, const void *, float *, int64_t);                                \
    void ek_silu_mul_entry_##suffix(const float *, const float *, float *, int64_t);                      \
    void ek_rms_norm_entry_##suffix(const float *, const float *, float *, int64_t, int64_t, float);      \
    int ek_tiles_fast_entry_##suffix(int);                                                               \
    int ek_tiles_widened_entry_##suffix(int);                                                            \
    void ek_widen_q8_entry_##suffix(int, const int8_t *, int64_t, int64_t, int16_t *);                   \
    void ek_attention_heads_entry_##suffix(const float *, int64_t, const float *, int64_t, const float *, int64_t, int64_t, \
                                           float, float *, float *);                                              \
    void ek_tiles_matvec_entry_##suffix(int, const void *, size_t, int64_t, int64_t, int, const int8_t *,          \
                                        const float *, const float *, const int16_t *, float *);          \
    void ek_tiles_matmul_entry_##suffix(int, const void *, size_t, int64_t, int64_t, int64_t, int, const int8_t *, \
                                        const float *, const float *, const int16_t *, float *, int64_t); \
    void ek_quantize_q8_wide_entry_##suffix(const float *, int64_t, int64_t, int8_t *, float *, float *);

EK_DECLARE_VARIANT(portable)
#if defined(__x86_64__)
EK_DECLARE_VARIANT(avx2)
EK_DECLARE_VARIANT(avx512)
EK_DECLARE_VARIANT(avx512vnni)
#endif
