"""Reports on spend (rollups, manager and organization reports) and cost exports for finance."""
