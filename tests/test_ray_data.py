"""Ray Data: map_batches(blt.ray.Tokenize, ActorPoolStrategy) on a local 2-CPU Ray, written to
Parquet, gives the ids of direct encoding."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import blt
import blt.ray

ray = pytest.importorskip("ray")

TEXTS = [f"row {i} " + "héllo " * (i % 5) for i in range(300)]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_map_batches_actor_pool_to_parquet(local_ray, tmp_path, vocab_dir, cl100k):
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(TEXTS)]).repartition(4)
    out = ds.map_batches(blt.ray.Tokenize, fn_constructor_kwargs={"tokenizer": "cl100k_base", "vocab_dir": str(vocab_dir)},
                         batch_format="pyarrow", batch_size=64, compute=ray.data.ActorPoolStrategy(size=2),
                         num_cpus=0.5)  # two actors leave a CPU of the two for the read tasks
    out.write_parquet(str(tmp_path / "tokens"))
    table = pq.read_table(tmp_path / "tokens").sort_by("id")
    assert table["id"].to_pylist() == list(range(len(TEXTS)))
    assert table["input_ids"].to_pylist() == cl100k.encode_batch(TEXTS).to_list()


def test_numpy_and_pandas_batches():
    t = blt.ray.Tokenize("bytes")
    out = t({"text": np.array(["Hi", "yo"], dtype=object), "id": np.array([1, 2])})
    assert isinstance(out, pa.Table)
    assert out.to_pydict() == {"text": ["Hi", "yo"], "id": [1, 2], "input_ids": [[1, 76, 109, 2], [1, 125, 115, 2]]}
    pd = pytest.importorskip("pandas")
    df = t(pd.DataFrame({"text": ["Hi"]}))
    assert df["input_ids"][0].tolist() == [1, 76, 109, 2]
    with pytest.raises(TypeError, match="pyarrow.Table"):
        t(["Hi"])
