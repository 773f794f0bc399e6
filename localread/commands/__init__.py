"""One module per subcommand. Each exposes `register(app)`, which adds its typer
command(s) to the app; the functions stay 10-25 lines: build settings, call stages,
render."""
