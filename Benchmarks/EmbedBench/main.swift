import EngramEmbed
import Foundation

let dir = try EmbedderModelLocator.locate(explicit: nil)
let e = try MiniLMEmbedder(modelDirectory: dir)
let texts = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "/work/shared/reference/minilm_reference.json"))) as! [[String: Any]]
let out = e.embedSynchronously(texts.map { $0["text"] as! String })
for (t, v) in zip(texts, out) {
    let ids = (t["ids"] as! [NSNumber]).map { Int32($0.intValue) }
    let mine = e.tokenizer.encode(t["text"] as! String)
    let ref = (t["embedding"] as! [NSNumber]).map { $0.floatValue }
    let diff = zip(ref, v).map { abs($0 - $1) }.max()!
    print(ids == mine ? "ids ok " : "IDS DIFF \(ids) \(mine)", diff)
}
