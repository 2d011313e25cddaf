"""The catalog: extensions and their versions in the extensions table, written by publishing and read by
the gallery and search."""
