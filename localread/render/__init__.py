"""Everything a user reads: terminal, JSON, Markdown report, progress; text goes through safe.
Imports the stages' results (data, repo, summarize, paper, grounding); no stage imports render."""
