"""Media helpers: synthesizing test media, probing files, converting audio. No network, no database."""
