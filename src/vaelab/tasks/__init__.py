"""What a user does with a model, one module each: morph, arithmetic, attribute, blend, explore, report,
disentangle, demo and the latent-size sweep, with the concepts and encodings they share. A task returns its
Result; its write_… function writes the files the CLI writes, so the CLI and the Python API share the same code."""
