"""The bindings scenario in Python, against the host libreclora_ffi and the Rust results."""

import threading

import pytest

import reclora
from reclora import RecloraError, Recommender, RecommenderOptions


def options(expected):
    return RecommenderOptions(threads=expected.threads)


def with_user(expected, history):
    recommender = Recommender.open(str(expected.bundle), str(history), options(expected))
    recommender.set_profile(reclora.UserProfile(fields=expected.profile))
    recommender.record_events(expected.events)
    return recommender


def test_history_persists_across_reopen(expected, tmp_path):
    history = tmp_path / "history.bin"
    recommender = Recommender.open(str(expected.bundle), str(history), options(expected))
    recommender.set_profile(reclora.UserProfile(fields=expected.profile))
    for event in expected.events:
        recommender.record_event(event)
    assert recommender.history_length() == 20
    recommender.close()
    reopened = Recommender.open(str(expected.bundle), str(history), options(expected))
    assert reopened.history_length() == 20
    assert reopened.score(expected.candidates) == pytest.approx(expected.scores, abs=1e-6)


def test_scores_equal_the_rust_results(expected, tmp_path):
    scores = with_user(expected, tmp_path / "h.bin").score(expected.candidates)
    assert len(scores) == 10
    assert scores == pytest.approx(expected.scores, abs=1e-6)
    assert max(scores) - min(scores) > 1e-4


def test_rank_top_3(expected, tmp_path):
    top = with_user(expected, tmp_path / "h.bin").rank(expected.candidates, 3)
    assert [item.item_id for item in top] == [item for item, _ in expected.top3]
    assert [item.score for item in top] == pytest.approx([s for _, s in expected.top3], abs=1e-6)


def test_errors_are_typed(expected, tmp_path):
    with pytest.raises(RecloraError.Io) as io:
        Recommender.open(str(tmp_path / "no-such-bundle"), str(tmp_path / "h.bin"), options(expected))
    assert "no-such-bundle" in io.value.reason
    with pytest.raises(RecloraError.BundleInvalid) as corrupt:
        Recommender.open(str(expected.corrupt_bundle), str(tmp_path / "h.bin"), options(expected))
    assert "llm.safetensors" in corrupt.value.reason
    recommender = with_user(expected, tmp_path / "user.bin")
    with pytest.raises(RecloraError.InvalidArgument):
        recommender.score([])
    with pytest.raises(RecloraError.UnknownItem) as unknown:
        recommender.score([5, expected.unknown_item])
    assert unknown.value.item_id == expected.unknown_item
    with pytest.raises(RecloraError.InvalidArgument):
        recommender.rank(expected.candidates, 0)
    recommender.close()
    recommender.close()
    with pytest.raises(RecloraError.Closed):
        recommender.score(expected.candidates)
    with pytest.raises(RecloraError.Closed):
        recommender.history_length()


def test_four_threads_by_100_calls_equal_serial_calls(expected, tmp_path):
    recommender = with_user(expected, tmp_path / "h.bin")
    slates = [expected.candidates[t : t + 2] for t in range(4)]
    serial = [recommender.score(slate) for slate in slates]
    results = [[] for _ in slates]
    failures = []

    def work(t):
        try:
            for _ in range(100):
                results[t].append(recommender.score(slates[t]))
        except Exception as error:  # reported below, with the thread
            failures.append((t, error))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for t, calls in enumerate(results):
        assert len(calls) == 100
        assert all(call == serial[t] for call in calls)


def test_a_panic_is_an_exception_and_the_next_call_works(expected, tmp_path):
    recommender = with_user(expected, tmp_path / "h.bin")
    with pytest.raises(RecloraError.Internal) as panic:
        recommender.panic_for_test("boom from Python")
    assert "boom from Python" in panic.value.reason
    assert recommender.score(expected.candidates) == pytest.approx(expected.scores, abs=1e-6)
    assert recommender.history_length() == 20


def test_clear_history_keeps_the_profile(expected, tmp_path):
    recommender = with_user(expected, tmp_path / "h.bin")
    recommender.clear_history()
    assert recommender.history_length() == 0
    scores = recommender.score(expected.candidates)
    assert abs(scores[0] - expected.scores[0]) > 1e-6
