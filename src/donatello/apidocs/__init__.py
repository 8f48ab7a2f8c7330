"""The interactive API documentation (Swagger UI), served entirely by the app: it works with no internet."""
