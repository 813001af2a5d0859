"""``data.train.subjects``: training on the first N subject ids of the training split."""

import pytest

from gaitedge.data.builders import build_train_data


def _data(**train):
    return {"synth": {"domain": "indoor", "subjects": 6, "views": [90], "frames": 3, "size": 32,
                      "train_fraction": 5 / 6},
            "train": {"P": 2, "K": 1, "frames": 2, "sampling": "unordered", **train}}


def test_keeps_the_first_ids_and_their_sequences_only():
    full, _, _, n_full = build_train_data(_data(), ("sils",), seed=0)
    ds, sampler, collate, n = build_train_data(_data(subjects=2), ("sils",), seed=0)
    assert n_full == 5 and n == 2
    assert ds.label_set == full.label_set[:2]
    assert collate.label_index == {k: i for i, k in enumerate(full.label_set[:2])}  # classes 0..1
    assert ds.keys == [k for k in full.keys if k[0] in full.label_set[:2]]
    assert {ds.labels[i] for batch in zip(range(20), sampler) for i in batch[1]} == set(full.label_set[:2])


@pytest.mark.parametrize("bad", [0, -1, 6, 2.5, "2", True])
def test_bad_counts_are_named(bad):
    with pytest.raises(ValueError, match="data.train.subjects"):
        build_train_data(_data(subjects=bad), ("sils",), seed=0)


def test_sampler_needs_as_many_ids_as_p():
    with pytest.raises(ValueError, match="P = 2 ids per batch but the dataset has only 1"):
        build_train_data(_data(subjects=1), ("sils",), seed=0)
