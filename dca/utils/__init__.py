"""Small utilities shared across stages (atomic file output)."""
