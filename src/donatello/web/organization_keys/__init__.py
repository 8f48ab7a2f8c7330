"""Every API key of the organization, for org admins."""
