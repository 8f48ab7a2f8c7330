"""The organization overview as the API's CSV."""
