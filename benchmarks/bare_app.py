"""The yardstick: the barest FastAPI JSON endpoint, on the same uvicorn (uvloop, httptools)."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/bare/")
async def bare() -> dict[str, str]:
    return {"hello": "world"}
