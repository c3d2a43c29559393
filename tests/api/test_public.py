"""The public names of horae.api."""

import horae.api


def test_public_api_is_pinned() -> None:
    assert sorted(horae.api.__all__) == [
        "JobNotFound",
        "JobStatus",
        "RunNotFound",
        "RunPage",
        "Service",
        "create_app",
    ]
    assert all(hasattr(horae.api, name) for name in horae.api.__all__)
