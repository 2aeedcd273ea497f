print("engram-bench-glm: not yet implemented")
