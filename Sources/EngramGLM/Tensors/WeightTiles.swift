import CKernels
import Foundation

/// A Q4_0, Q4_1 or Q8_0 matrix rearranged into row-interleaved tiles (`ek_tiles_pack`: 16 rows
/// × one block each, their scales side by side and their quants interleaved in 4-byte lanes),
/// so that the integer kernels meet 16 rows with each load of the activation. The same bytes
/// as the rows in the file; made once at load when the kernel variant in use has fast tile
/// kernels for the type (`ek_tiles_fast`), owned here and freed with
/// the model.
final class WeightTiles: @unchecked Sendable { // immutable after init
    let type: GGMLType
    /// Groups of 16 rows.
    let groups: Int
    let cols: Int
    let bytes: UnsafeMutableRawPointer
    let tileBytes: Int
    /// Whether the kernels read the activation widened too (`QuantizedActivation.wide`).
    let readsWidened: Bool

    /// Rows per tile.
    static let rowsPerTile = 16

    /// Terms of the activation the tile kernels take when evaluating a prompt
    /// (`QuantizedActivation`) for the products whose input is not RMS-normalized (the
    /// attention output into `attn_output`, SiLU(gate)·up into `ffn_down`, whose blocks carry
    /// the outliers) and for the logits: two (the bytes of a 16-bit quantization), so that those
    /// stay as close to exact as with float products. The products of a normalized input
    /// (q/k/v and gate/up) take one (`normalizedInputTerms`). Measured on SmolLM2's
    /// teacher-forced prompts against an exact float64 forward pass (max |Δ| of the three):
    /// this mix 0.77 / 0.51 / 0.51, llama.cpp itself 0.83 / 0.68 / 0.84, two terms everywhere
    /// 0.03; against llama.cpp's logits (the test's tolerance 1.0) 0.90 / 0.48 / 0.67. With one
    /// term for every product the engine is as close to exact as llama.cpp (0.69 / 0.52 /
    /// 0.64) but its roundings fall independently of llama.cpp's, and the two drifts add up
    /// past the tolerance (1.06 on the first prompt); for the same reason a change of rounding
    /// anywhere moves the mix's 0.90 by about a tenth. Two terms for every product cost a fifth
    /// of a Q4_0 prompt's time more (SmolLM2 pp512, one thread: 670–684 against 857–869
    /// tokens/s). Generated tokens take one for every product, as the row kernels and
    /// llama.cpp do (two cost a quarter of the decode speed). The choice follows what is
    /// evaluated, not the batch size, so that a prompt token's result does not depend on how
    /// the prompt was split (a prompt partly in the cache evaluates its rest alone).
    static let promptActivationTerms = 2

    /// Terms of the activation for the products of an RMS-normalized input (q/k/v and
    /// gate/up, fused or not), prompt or generated token alike: one, as llama.cpp takes for
    /// every product (see `promptActivationTerms`).
    static let normalizedInputTerms = 1

    /// Groups packed between two calls of `release` (2.5 MB of Q8_0 rows 576 wide).
    static let packingChunk = 256

    /// Tiles of `rows` rows of `cols` values at `data`, or nil when the type has no tiles, the
    /// row count is not a multiple of 16, or the kernel variant in use has no fast tile kernels.
    /// `release(start, bytes)` is called for the rows as they are packed (a chunk at a time), so
    /// that a caller can let their pages go before the next ones are read.
    init?(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, release: (UnsafeRawPointer, Int) -> Void) {
        let tileBytes = Int(ek_tile_bytes(Int32(type.rawValue)))
        guard tileBytes > 0, rows % Self.rowsPerTile == 0, cols % 32 == 0, ek_tiles_fast(Int32(type.rawValue)) != 0 else { return nil }
        self.type = type
        self.groups = rows / Self.rowsPerTile
        self.cols = cols
        self.tileBytes = tileBytes
        self.readsWidened = ek_tiles_widened(Int32(type.rawValue)) != 0
        let nb = cols / 32
        bytes = .allocate(byteCount: groups * nb * tileBytes, alignment: 64)
        let rowBytes = type.rowBytes(cols), groupBytes = Self.rowsPerTile * rowBytes
        for first in stride(from: 0, to: groups, by: Self.packingChunk) {
            let count = min(Self.packingChunk, groups - first)
            _ = ek_tiles_pack(Int32(type.rawValue), data + first * groupBytes, rowBytes, Int64(count), Int64(nb),
                              bytes + first * nb * tileBytes)
            release(data + first * groupBytes, count * groupBytes)
        }
    }

    deinit { bytes.deallocate() }

    /// The first tile of group `g`.
    func group(_ g: Int) -> UnsafeRawPointer { UnsafeRawPointer(bytes + g * (cols / 32) * tileBytes) }

    /// `y[16g + r] = row · x` for the groups in `range` (`x` quantized once by the caller).
    func matvec(_ range: Range<Int>, _ xq: QuantizedActivation, _ y: UnsafeMutablePointer<Float>) {
        precondition(!readsWidened || xq.wide != nil, "the activation of a widened tile product was not widened")
        ek_tiles_matvec(Int32(type.rawValue), group(range.lowerBound), Int64(range.count), Int64(cols), Int32(xq.terms),
                        xq.q, xq.d, xq.s, xq.wide, y + Self.rowsPerTile * range.lowerBound)
    }

    /// `y[t·ldy + 16g + r] = row · x_t` for the groups in `range` and every token of `xq`.
    func matmul(_ range: Range<Int>, _ xq: QuantizedActivation, tokens: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(!readsWidened || xq.wide != nil, "the activation of a widened tile product was not widened")
        ek_tiles_matmul(Int32(type.rawValue), group(range.lowerBound), Int64(range.count), Int64(cols), Int64(tokens),
                        Int32(xq.terms), xq.q, xq.d, xq.s, xq.wide, y + Self.rowsPerTile * range.lowerBound, Int64(ldy))
    }
}
