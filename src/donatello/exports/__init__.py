"""Cost exports for finance: the ledger as CSV, Parquet or FOCUS 1.2, streamed or written by a job."""
