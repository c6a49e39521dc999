"""Command-line interface (`atilax ...`)."""
