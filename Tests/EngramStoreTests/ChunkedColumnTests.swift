import EngramStore
import Testing

@Suite("Chunked catalog columns")
struct ChunkedColumnTests {
    @Test("values across chunk boundaries; a copy keeps its values while the original is written and grows; chunks in order")
    func copiesAndChunks() {
        let size = ChunkedColumn<Int>.chunkSize
        var column = ChunkedColumn<Int>()
        column.append(repeating: -1, count: 2 * size + 5)
        #expect(column.count == 2 * size + 5 && column.allSatisfy { $0 == -1 })
        for i in column.indices { column[i] = i }
        let view = column // what a published view holds
        column[3] = 100
        column[size + 1] = 200
        column.append(repeating: 7, count: size)
        column[2 * size + 5] = 300
        #expect(view.count == 2 * size + 5)
        #expect(view.elementsEqual(0..<(2 * size + 5)), "the copy saw the writer's changes")
        #expect(column[3] == 100 && column[size + 1] == 200 && column[2 * size + 5] == 300 && column[3 * size + 4] == 7)
        #expect(column.count == 3 * size + 5)
        var chunked: [Int] = []
        column.forEachChunk { chunked += $0 }
        #expect(chunked == Array(column))
        column.forEachMutableChunk { chunk in
            for i in chunk.indices { chunk[i] = -chunk[i] }
        }
        #expect(column[size + 1] == -200 && view[size + 1] == size + 1)
    }
}
