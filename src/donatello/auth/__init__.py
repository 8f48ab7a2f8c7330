"""Who is calling: the app's own access tokens turned into a principal."""
