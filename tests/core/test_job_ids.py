"""Job ids shortened for people: the part that tells the jobs of a session apart."""

from __future__ import annotations

from pipebus.core.ids import JOB_ID_TIME_DIGITS, job_id_matches, short_job_id
from pipebus.workers.job_params import new_job_id


def test_ids_made_in_one_millisecond_shorten_to_different_texts_that_find_them_back() -> None:
    prefix = new_job_id()[:JOB_ID_TIME_DIGITS]
    ids = [prefix + new_job_id()[JOB_ID_TIME_DIGITS:] for _ in range(50)]
    shown = [short_job_id(job_id) for job_id in ids]
    assert len(set(shown)) == len(ids) and all(len(text) == 8 for text in shown)
    for job_id, text in zip(ids, shown, strict=True):
        assert [other for other in ids if job_id_matches(other, text)] == [job_id]
        assert job_id_matches(job_id, job_id[:6])  # a prefix of the whole id still names it


def test_an_id_the_application_chose_is_shown_whole_or_cut_and_found_either_way() -> None:
    assert short_job_id("translate-1") == "translate-1"
    long = "conversation-2024-05-17-translate-request-0001"
    shown = short_job_id(long)
    assert shown.endswith("…") and len(shown) == 24
    assert job_id_matches(long, shown) and not job_id_matches("conversation-2", shown)
