"""The static reader: scan, chunks, imports, the symbol graph, ranks, entries, the reading path.
Imports config, data, errors only; never llm/, store, summarize or render."""
