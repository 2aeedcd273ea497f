import Engram
import Foundation

/// GraphML (http://graphml.graphdrawing.org) for `engram graph export --format graphml`: one
/// node per entity, one edge per graph edge, with its relation, validity, weight and
/// supporting memories as data.
enum GraphML {
    static func document(_ edges: [GraphEdge]) -> String {
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">"#,
            #"  <key id="relation" for="edge" attr.name="relation" attr.type="string"/>"#,
            #"  <key id="validFrom" for="edge" attr.name="validFrom" attr.type="string"/>"#,
            #"  <key id="validTo" for="edge" attr.name="validTo" attr.type="string"/>"#,
            #"  <key id="recordedAt" for="edge" attr.name="recordedAt" attr.type="string"/>"#,
            #"  <key id="retractedAt" for="edge" attr.name="retractedAt" attr.type="string"/>"#,
            #"  <key id="weight" for="edge" attr.name="weight" attr.type="double"/>"#,
            #"  <key id="memories" for="edge" attr.name="memories" attr.type="string"/>"#,
            #"  <graph id="engram" edgedefault="directed">"#,
        ]
        var nodes: [String] = []
        var seen = Set<String>()
        for e in edges {
            for n in [e.from, e.to] where seen.insert(n).inserted { nodes.append(n) }
        }
        for n in nodes { lines.append("    <node id=\"\(escaped(n))\"/>") }
        for (i, e) in edges.enumerated() {
            lines.append("    <edge id=\"e\(i)\" source=\"\(escaped(e.from))\" target=\"\(escaped(e.to))\">")
            lines.append("      <data key=\"relation\">\(escaped(e.relation))</data>")
            lines.append("      <data key=\"validFrom\">\(Timestamp(e.validFrom))</data>")
            if let to = e.validTo { lines.append("      <data key=\"validTo\">\(Timestamp(to))</data>") }
            lines.append("      <data key=\"recordedAt\">\(Timestamp(e.recordedAt))</data>")
            if let at = e.retractedAt { lines.append("      <data key=\"retractedAt\">\(Timestamp(at))</data>") }
            if let w = e.weight { lines.append("      <data key=\"weight\">\(w)</data>") }
            lines.append("      <data key=\"memories\">\(escaped(e.memories.joined(separator: " ")))</data>")
            lines.append("    </edge>")
        }
        lines += ["  </graph>", "</graphml>"]
        return lines.joined(separator: "\n")
    }

    /// Text safe in XML content and attribute values.
    static func escaped(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // XML 1.0 allows no control characters but tab, newline and carriage return.
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
