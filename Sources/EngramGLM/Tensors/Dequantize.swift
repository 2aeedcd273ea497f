import CKernels

@inline(__always)
func loadF16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

@inline(__always)
func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    p.load(fromByteOffset: offset, as: UInt8.self)
}

/// The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block, from its 12 scale bytes.
@inline(__always)
func kScaleMin(_ q: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
    if j < 4 {
        return (Float(byte(q, j) & 63), Float(byte(q, j + 4) & 63))
    }
    let sc = (byte(q, j + 4) & 15) | ((byte(q, j - 4) >> 6) << 4)
    let m = (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4)
    return (Float(sc), Float(m))
}

/// Converts `count` values of type `type` starting at `src` into floats at `dst`.
/// `count` must be a multiple of the type's block size.
public func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    let nb = count / type.blockSize
    switch type {
    case .f32:
        dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
    case .f16:
        ek_f16_to_f32(src.assumingMemoryBound(to: UInt16.self), dst, Int64(count))
    case .bf16:
        for i in 0..<count {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    case .q4_0:
        for b in 0..<nb {
            let p = src + b * 18, y = dst + b * 32
            let d = loadF16(p, 0)
            for j in 0..<16 {
                let q = byte(p, 2 + j)
                y[j] = Float(Int(q & 15) - 8) * d
                y[j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    case .q4_1:
        for b in 0..<nb {
            let p = src + b * 20, y = dst + b * 32
            let d = loadF16(p, 0), m = loadF16(p, 2)
            for j in 0..<16 {
                let q = byte(p, 4 + j)
                y[j] = Float(q & 15) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
        }
    case .q5_0:
        for b in 0..<nb {
            let p = src + b * 22, y = dst + b * 32
            let d = loadF16(p, 0)
            let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
            for j in 0..<16 {
                let q = byte(p, 6 + j)
                let lo = Int(q & 15) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = Float(lo - 16) * d
                y[j + 16] = Float(hi - 16) * d
            }
        }
    case .q5_1:
        for b in 0..<nb {
            let p = src + b * 24, y = dst + b * 32
            let d = loadF16(p, 0), m = loadF16(p, 2)
            let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
            for j in 0..<16 {
                let q = byte(p, 8 + j)
                let lo = Int(q & 15) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = Float(lo) * d + m
                y[j + 16] = Float(hi) * d + m
            }
        }
    case .q8_0:
        for b in 0..<nb {
            let p = src + b * 34, y = dst + b * 32
            let d = loadF16(p, 0)
            for j in 0..<32 { y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
        }
    case .q4_K:
        for b in 0..<nb {
            let p = src + b * 144
            var y = dst + b * 256
            let d = loadF16(p, 0), dmin = loadF16(p, 2)
            let scales = p + 4
            var q = p + 16
            for c in 0..<4 {
                let (sc1, m1) = kScaleMin(scales, 2 * c)
                let (sc2, m2) = kScaleMin(scales, 2 * c + 1)
                let d1 = d * sc1, o1 = dmin * m1, d2 = d * sc2, o2 = dmin * m2
                for l in 0..<32 { y[l] = d1 * Float(byte(q, l) & 15) - o1 }
                for l in 0..<32 { y[l + 32] = d2 * Float(byte(q, l) >> 4) - o2 }
                q += 32
                y += 64
            }
        }
    case .q5_K:
        for b in 0..<nb {
            let p = src + b * 176
            var y = dst + b * 256
            let d = loadF16(p, 0), dmin = loadF16(p, 2)
            let scales = p + 4, qh = p + 16
            var q = p + 48
            for c in 0..<4 {
                let (sc1, m1) = kScaleMin(scales, 2 * c)
                let (sc2, m2) = kScaleMin(scales, 2 * c + 1)
                let d1 = d * sc1, o1 = dmin * m1, d2 = d * sc2, o2 = dmin * m2
                let u1 = UInt8(1) << UInt8(2 * c), u2 = UInt8(2) << UInt8(2 * c)
                for l in 0..<32 {
                    let h = byte(qh, l)
                    y[l] = d1 * Float((byte(q, l) & 15) + (h & u1 != 0 ? 16 : 0)) - o1
                    y[l + 32] = d2 * Float((byte(q, l) >> 4) + (h & u2 != 0 ? 16 : 0)) - o2
                }
                q += 32
                y += 64
            }
        }
    case .q6_K:
        for b in 0..<nb {
            let p = src + b * 210
            let d = loadF16(p, 208)
            for half in 0..<2 {
                let ql = p + 64 * half, qh = p + 128 + 32 * half
                let sc = p + 192 + 8 * half
                let y = dst + b * 256 + 128 * half
                for l in 0..<32 {
                    let isc = l / 16
                    let h = Int(byte(qh, l))
                    let q1 = Int(byte(ql, l) & 15) | ((h >> 0) & 3) << 4
                    let q2 = Int(byte(ql, l + 32) & 15) | ((h >> 2) & 3) << 4
                    let q3 = Int(byte(ql, l) >> 4) | ((h >> 4) & 3) << 4
                    let q4 = Int(byte(ql, l + 32) >> 4) | ((h >> 6) & 3) << 4
                    y[l] = d * Float(sc.load(fromByteOffset: isc, as: Int8.self)) * Float(q1 - 32)
                    y[l + 32] = d * Float(sc.load(fromByteOffset: isc + 2, as: Int8.self)) * Float(q2 - 32)
                    y[l + 64] = d * Float(sc.load(fromByteOffset: isc + 4, as: Int8.self)) * Float(q3 - 32)
                    y[l + 96] = d * Float(sc.load(fromByteOffset: isc + 6, as: Int8.self)) * Float(q4 - 32)
                }
            }
        }
    }
}
