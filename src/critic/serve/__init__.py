"""The HTTP service (FastAPI on uvicorn) and its web page."""
