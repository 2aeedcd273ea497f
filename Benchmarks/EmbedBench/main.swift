print("engram-bench-embed: not yet implemented")
