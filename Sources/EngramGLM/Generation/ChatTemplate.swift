/// One message of a conversation.
public struct GLMChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String

    public init(_ role: Role, _ content: String) {
        self.role = role
        self.content = content
    }
}

/// The chat formats the engine knows, recognised from `tokenizer.chat_template`.
public enum GLMChatTemplate: Sendable, Equatable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` … `<|im_start|>assistant\n`. `defaultSystem`
    /// is inserted when the conversation has no system message (SmolLM2's template does this).
    case chatML(defaultSystem: String?)
    /// GLM-4: `[gMASK]<sop>` then `<|{role}|>\n{content}` per message, then `<|assistant|>\n`.
    case glm4
    /// ChatGLM3: `[gMASK]sop` then `<|{role}|>\n {content}` per message, then `<|assistant|>`.
    case chatGLM3

    /// The template named in the settings: `chatml`, `glm4`, `chatglm3`.
    public init?(name: String) {
        switch name.lowercased() {
        case "chatml": self = .chatML(defaultSystem: nil)
        case "glm4", "glm-4": self = .glm4
        case "chatglm3", "chatglm": self = .chatGLM3
        default: return nil
        }
    }

    /// Recognises the family from a Jinja chat template; nil when unknown.
    public static func detect(_ template: String) -> GLMChatTemplate? {
        if template.contains("<|im_start|>") {
            return .chatML(defaultSystem: defaultSystemMessage(in: template))
        }
        if template.contains("[gMASK]<sop>") || (template.contains("[gMASK]") && template.contains("<|assistant|>") && !template.contains("sop<|")) {
            return .glm4
        }
        if template.contains("[gMASK]sop") || template.contains("<|assistant|>") {
            return .chatGLM3
        }
        return nil
    }

    /// The template for a model: its `tokenizer.chat_template`, else by architecture.
    public static func forModel(_ file: GGUFFile) -> GLMChatTemplate {
        if let t = file["tokenizer.chat_template"]?.stringValue, let found = detect(t) { return found }
        switch file["general.architecture"]?.stringValue {
        case "glm4": return .glm4
        case "chatglm": return .chatGLM3
        default: return .chatML(defaultSystem: nil)
        }
    }

    /// The literal system message a ChatML template inserts when none is given.
    static func defaultSystemMessage(in template: String) -> String? {
        guard template.contains("!= 'system'") || template.contains("!= \"system\"") else { return nil }
        let marker = "<|im_start|>system\n"
        guard let start = template.range(of: marker),
              let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex) else { return nil }
        let text = String(template[start.upperBound..<end.lowerBound])
        return text.contains("{") ? nil : text
    }

    /// The prompt text for `messages`, ending with the assistant's turn opener.
    /// Special tokens in the result must be tokenized with `special: true`.
    public func render(_ messages: [GLMChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch self {
        case .chatML(let defaultSystem):
            if let defaultSystem, messages.first?.role != .system {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .glm4:
            out = "[gMASK]<sop>"
            for m in messages { out += "<|\(m.role.rawValue)|>\n\(m.content)" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
        case .chatGLM3:
            out = "[gMASK]sop"
            for m in messages { out += "<|\(m.role.rawValue)|>\n \(m.content)" }
            if addGenerationPrompt { out += "<|assistant|>" }
        }
        return out
    }

    /// Token texts that end the assistant's turn in this family.
    public var stopTokens: [String] {
        switch self {
        case .chatML: return ["<|im_end|>", "<|endoftext|>"]
        case .glm4, .chatGLM3: return ["<|endoftext|>", "<|user|>", "<|observation|>"]
        }
    }
}
