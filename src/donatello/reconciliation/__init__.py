"""Reconciliation with the provider's invoice: its cost file against our ledger, per day and model."""
