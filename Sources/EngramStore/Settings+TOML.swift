extension StoreSettings {
    /// The commented `engram.toml` that creating a database writes, once: the file is the
    /// user's from then on, and Engram never rewrites it. `parse(toml())` gives back these
    /// settings (but for `legacyEmbedder`, which is not written).
    public func toml() -> String {
        """
        # Engram database settings. Edit with care: `dimension` cannot change after init.
        format = \(Self.formatVersion)

        [store]
        dimension = \(dimension)
        # flat | ivf | hnsw | auto (flat below auto_ivf_threshold live memories, then ivf)
        index = "\(index.rawValue)"
        # fsync the write-ahead log before a write is acknowledged
        sync = \(sync)
        # IVF lists probed per query (0 = automatic: nlist/64, at least 8 and ~1600 vectors); HNSW search breadth
        nprobe = \(nprobe)
        ef_search = \(efSearch)
        hnsw_m = \(hnswM)
        auto_ivf_threshold = \(autoIVFThreshold)
        ivf_min_training_size = \(ivfMinimumTrainingSize)
        # changes after which an index snapshot is saved in the background
        snapshot_every = \(snapshotEvery)
        # threads for index builds (0 = all cores)
        threads = \(threads)
        max_id_bytes = \(maxIdBytes)
        max_text_bytes = \(maxTextBytes)

        [scoring]
        # score = w_sim*similarity + w_time*0.5^(age/half_life) + w_importance*importance
        w_sim = \(scoring.wSim)
        w_time = \(scoring.wTime)
        w_importance = \(scoring.wImportance)
        half_life = "\(DurationText.format(scoring.halfLife))"
        # time (event time) | access (last access, else event time)
        decay = "\(scoring.decay.rawValue)"

        \(text.toml())[embedder]
        # model folder ("" = $ENGRAM_EMBED_MODEL, $ENGRAM_MODELS, else Data/models/)
        path = \(Self.basicString(embedderPath))

        """
    }

    /// `s` as a TOML basic string: quotes, backslashes and control characters escaped.
    static func basicString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16, uppercase: true)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
