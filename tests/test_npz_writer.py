"""NpzStreamWriter: the streamed .npz reads back with np.load and passes zipfile's CRC check."""

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blt._npz import NpzStreamWriter


def blocks_of(a: np.ndarray, cuts):
    edges = sorted({0, len(a), *(c % (len(a) + 1) for c in cuts)})
    return [a[i:j] for i, j in zip(edges, edges[1:])]


@settings(max_examples=60, deadline=None)
@given(
    arrays=st.lists(
        st.tuples(st.sampled_from([np.uint16, np.uint32, np.int32]), st.lists(st.integers(0, 60000), max_size=300),
                  st.lists(st.integers(0, 400), max_size=5)),
        min_size=1, max_size=3,
    )
)
def test_members_read_back_exactly(arrays):
    buf = io.BytesIO()
    w = NpzStreamWriter(buf)
    want = {}
    for k, (dtype, values, cuts) in enumerate(arrays):
        a = np.array(values, dtype=dtype)
        want[f"m{k}"] = a
        w.add(f"m{k}", a.dtype, len(a), blocks_of(a, cuts))
    w.finish()
    buf.seek(0)
    with zipfile.ZipFile(buf) as z:
        assert z.testzip() is None  # every member's CRC-32 matches its data
        assert z.namelist() == [f"{k}.npy" for k in want]
    buf.seek(0)
    with np.load(buf) as z:
        assert sorted(z.files) == sorted(want)
        for k, a in want.items():
            assert z[k].dtype == a.dtype and np.array_equal(z[k], a)


def test_wrong_count_or_dtype_is_a_value_error():
    w = NpzStreamWriter(io.BytesIO())
    with pytest.raises(ValueError, match="2 items written, header says 3"):
        w.add("ids", np.dtype(np.uint16), 3, [np.zeros(2, np.uint16)])
    with pytest.raises(ValueError, match="expected 1-D uint16"):
        w.add("ids", np.dtype(np.uint16), 2, [np.zeros(2, np.uint32)])


def test_an_interrupt_from_the_blocks_comes_out_unchanged():
    # The reason this writer exists: zipfile could turn a Ctrl-C into a ValueError on close.
    def blocks():
        yield np.zeros(4, np.uint16)
        raise KeyboardInterrupt

    f = io.BytesIO()
    with pytest.raises(KeyboardInterrupt):
        NpzStreamWriter(f).add("ids", np.dtype(np.uint16), 8, blocks())
