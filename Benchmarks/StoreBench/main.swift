print("engram-bench-store")
