"""The public names of horae.api."""

import horae.api


def test_public_api_is_pinned() -> None:
    assert sorted(horae.api.__all__) == [
        "JobAlreadyExists",
        "JobNotFound",
        "JobStatus",
        "RunNotFound",
        "RunPage",
        "Service",
        "StoreUnavailable",
        "create_app",
    ]
    assert all(hasattr(horae.api, name) for name in horae.api.__all__)
