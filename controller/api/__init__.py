"""The API process: the FastAPI app, its models, the uvicorn server, the write guard, readiness,
metrics and the live page.
"""
