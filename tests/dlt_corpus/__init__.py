"""dlt-style ``rest_api`` configs (one YAML each) and the local mock API they are run against
(:mod:`tests.dlt_corpus.server`); see ``tests/test_dlt_corpus.py``."""
