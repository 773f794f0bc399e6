"""tree-sitter queries (`.scm`) for chunks and symbols, shipped as package data.
Read by repo.chunks and repo.graph.extract; holds no code."""
