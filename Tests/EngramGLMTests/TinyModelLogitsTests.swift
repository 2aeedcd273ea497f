import Foundation
import Testing
import EngramGLM

/// The tiny random-weight models (llama, glm4, chatglm in several tensor types) against
/// llama.cpp's logits, under the README's tolerances.
struct TinyModelLogitsTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let ftype: String
        let tokens: [Int32]
        let logitsFile: String
        let rows: Int
        let cols: Int
        var testDescription: String { file }
    }

    static func cases() throws -> [Case] {
        guard let list = try TestFiles.json("tiny_models.json") as? [[String: Any]] else {
            throw TestFileMissing(message: "tiny_models.json has an unexpected shape")
        }
        return list.map { d in
            let shape = d["shape"] as! [Int]
            return Case(file: d["file"] as! String, ftype: d["ftype"] as! String,
                        tokens: (d["tokens"] as! [Int]).map(Int32.init),
                        logitsFile: d["logits_file"] as! String, rows: shape[0], cols: shape[1])
        }
    }

    static func tolerance(_ ftype: String) -> Double {
        switch ftype {
        case "F32", "F16": return 0.002
        case "BF16": return 0.01
        default: return 0.04
        }
    }

    @Test("tiny models match llama.cpp logits (whole prompt in one batch)", arguments: try cases())
    func logitsMatch(_ c: Case) throws {
        let model = try GLMModel(path: try TestFiles.reference(c.file))
        let ctx = try GLMContext(model: model, threads: 2)
        try compare(c, ctx.evaluate(c.tokens, allLogits: true))
    }

    @Test("tiny models match llama.cpp logits (token by token: decode kernels)", arguments: try cases())
    func logitsMatchIncremental(_ c: Case) throws {
        let model = try GLMModel(path: try TestFiles.reference(c.file))
        let ctx = try GLMContext(model: model, threads: 2)
        var got: [Float] = []
        // As decode steps evaluate them (the faster activation quantization of generated tokens).
        for t in c.tokens { got += try ctx.evaluate([t], generating: true) }
        try compare(c, got)
    }

    @Test("tiny models match llama.cpp's last row when only the last logits are asked for (the last layer narrowed to that token)",
          arguments: try cases())
    func lastLogitsMatch(_ c: Case) throws {
        let model = try GLMModel(path: try TestFiles.reference(c.file))
        let ctx = try GLMContext(model: model, threads: 2)
        let last = try ctx.evaluate(c.tokens)
        #expect(last.count == c.cols)
        try compare(Case(file: c.file, ftype: c.ftype, tokens: c.tokens, logitsFile: c.logitsFile, rows: 1, cols: c.cols), last,
                    fromRow: c.rows - 1)
    }

    /// Compares `got` with the reference's rows from `fromRow` on.
    func compare(_ c: Case, _ got: [Float], fromRow: Int = 0) throws {
        let refData = try Data(contentsOf: URL(fileURLWithPath: try TestFiles.reference(c.logitsFile)))
        let all: [Float] = refData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let ref = Array(all[(fromRow * c.cols)...])
        #expect(got.count == c.rows * c.cols)
        #expect(ref.count == c.rows * c.cols)
        var worst = 0.0
        for r in 0..<c.rows {
            let g = got[(r * c.cols)..<((r + 1) * c.cols)], f = ref[(r * c.cols)..<((r + 1) * c.cols)]
            var diff = 0.0, norm = 0.0
            for (a, b) in zip(g, f) { diff += Double(a - b) * Double(a - b); norm += Double(b) * Double(b) }
            let rel = (diff / norm).squareRoot()
            worst = max(worst, rel)
            let sorted = f.sorted(by: >)
            let range = Double(sorted.first! - sorted.last!), gap = Double(sorted[0] - sorted[1])
            if gap >= 0.02 * range {
                #expect(argmax(g) == argmax(f), "\(c.file) row \(r): argmax differs")
            }
        }
        #expect(worst <= Self.tolerance(c.ftype), "\(c.file): worst relative L2 error \(worst)")
        print("\(c.file): worst relative L2 error \(String(format: "%.5f", worst))")
    }

    func argmax(_ s: ArraySlice<Float>) -> Int {
        var best = s.startIndex
        for i in s.indices where s[i] > s[best] { best = i }
        return best - s.startIndex
    }
}
