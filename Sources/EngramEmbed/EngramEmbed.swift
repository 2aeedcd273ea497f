// EngramEmbed: native sentence embedder.
