"""The local model: GGUF files, the catalog and registry, resolution, the llama.cpp engine.
Imports config, errors, prompts; acquire.py alone may touch the network (import/pull)."""
