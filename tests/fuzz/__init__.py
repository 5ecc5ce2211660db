"""Grammar-aware fuzzing of the compiler (issue 11): generators, mutations and the oracle.

Shared by `tests/test_fuzz.py` (hypothesis, short, deterministic) and
`bench/fuzz.py` (a long random run that writes minimal reproducers).
"""
