"""The peer of blt-serve in bench_server.py: POST /v1/tokenize as a user would write it with
FastAPI and tiktoken (cl100k_base), served by uvicorn (with uvloop and httptools when installed,
as ``uvicorn[standard]`` brings them). The rank file comes from the shared vocabulary folder.

    cd benchmarks && uvicorn _fastapi_tiktoken:app --workers 2 --port 8000
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import tiktoken
import tiktoken.load
from fastapi import FastAPI
from pydantic import BaseModel

VOCAB = Path(os.environ.get("BLT_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared") / "vocab"


def cl100k() -> tiktoken.Encoding:
    """tiktoken's cl100k_base from the shared rank file (no download)."""
    meta = json.loads((VOCAB / "cl100k_base.meta.json").read_text())
    ranks = tiktoken.load.load_tiktoken_bpe(str(VOCAB / "cl100k_base.tiktoken"))
    return tiktoken.Encoding(name="cl100k_base", pat_str=meta["pat_str"], mergeable_ranks=ranks,
                             special_tokens=meta["special_tokens"])


enc = cl100k()
app = FastAPI()


class TokenizeRequest(BaseModel):
    text: str


@app.post("/v1/tokenize")
async def tokenize(req: TokenizeRequest) -> dict:
    ids = enc.encode(req.text)
    return {"tokenizer": "cl100k_base", "count": len(ids), "ids": ids}
