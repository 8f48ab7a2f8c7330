"""The browser edge: server-rendered pages over the same services and principal as the JSON API."""
