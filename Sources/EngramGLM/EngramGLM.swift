// EngramGLM: GGUF inference engine (see ../shared/design/GLM-ENGINE.md).
